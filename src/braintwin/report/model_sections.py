"""The report's chapters on the twin's growth model: status, posterior, forecast, scores, plans.

Model results are named like with like (a compartment with the observed region it predicts,
see :mod:`braintwin.report.naming`), every forecast names the treatment plan it assumed, a
model older than the newest visit is flagged, and every number goes through
:mod:`braintwin.report.numbers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from braintwin.report.document import Block, Figure, Flag, Paragraph, Section, Subheading, Table
from braintwin.report.naming import compartment_label, plan_summary
from braintwin.report.numbers import fixed, ml, sig, value
from braintwin.types import Modality

if TYPE_CHECKING:
    from braintwin.calibrate import Forecast
    from braintwin.store.records import Artifact
    from braintwin.twin.twin import Twin

__all__ = ["forecast_plan", "latest_forecast", "model_sections"]

_MONTH = 30.44


def _nested(v: Any) -> bool:
    """Records inside records (e.g. the emulator's stage boxes): too raw for a report."""
    return isinstance(v, dict) or (
        isinstance(v, list | tuple) and any(isinstance(x, dict | list | tuple) for x in v)
    )


def _days(d: float | None) -> str:
    if d is None:
        return "not reached within the horizon"
    return f"{d:.0f} days ({d / _MONTH:.1f} months)"


def _status(twin: Twin) -> Section | None:
    from braintwin.twin.state import model_status

    status = model_status(twin)
    if not status.stale:
        return None
    hint = f"run `braintwin update {twin.id}` to bring it up to date"
    if status.posterior_date is None:
        text = f"The model is out of date: {status.reason}; {hint}."
    else:
        text = (
            f"The model is out of date: {status.reason}. The posterior and forecasts below "
            f"have not seen the visit of {status.newest_visit}; {hint}."
        )
    return Section("Model status", [Flag(text)])


def _posterior(twin: Twin) -> Section | None:
    from braintwin.calibrate import Posterior
    from braintwin.report.model_figures import posterior_figure

    art = twin.store.latest_artifact(twin.id, "posterior")
    if art is None:
        return None
    post = Posterior.from_json(art.payload, art.volumes)
    n_stored = len(twin.store.artifacts(twin.id, "posterior", load_volumes=False))
    prior = np.exp(post.prior.sample(4000, np.random.default_rng(0)))
    rows = []
    for name, s in post.summary().items():
        lo50, hi50 = s["interval_50"]
        lo90, hi90 = s["interval_90"]
        rows.append(
            [
                name,
                s["unit"],
                sig(s["median"]),
                f"{sig(lo50)} – {sig(hi50)}",
                f"{sig(lo90)} – {sig(hi90)}",
            ]
        )
    blocks: list[Block] = [
        Paragraph(
            f"Calibrated on {len(post.visit_dates)} visit(s) "
            f"({', '.join(str(d) for d in post.visit_dates)}); source: {post.source}. "
            f"{n_stored} posterior(s) stored in the twin's history. D_w: diffusion in white "
            "matter; rho: proliferation rate; alpha: radiosensitivity."
        ),
        Table.of(["parameter", "unit", "median", "50 % interval", "90 % interval"], rows),
        Figure(
            posterior_figure(post.names, post.samples, prior),
            "posterior",
            "Grey: prior; blue: posterior; lines: median and 90 % interval.",
        ),
    ]
    blocks += [Flag(n) for n in post.notes]
    diag = [[k.replace("_", " "), value(v)] for k, v in post.diagnostics.items() if not _nested(v)]
    if diag:
        blocks += [Subheading("Sampler diagnostics"), Table.of(["quantity", "value"], diag)]
    return Section("Growth model: posterior", blocks)


def forecast_plan(twin: Twin, art: Artifact) -> tuple[str, str]:
    """(plan summary, where it came from) of a stored forecast."""
    if "plan" in art.payload:  # stored with the forecast (CLI forecasts, newer model code)
        origin = str(art.payload.get("plan_origin") or "stored with the forecast")
        return plan_summary(art.payload["plan"]), origin
    # Older records: the plan in force when the forecast was made.
    plans = [
        p
        for p in twin.store.artifacts(twin.id, "plan", load_volumes=False)
        if p.created_at <= art.created_at
    ]
    if plans:
        return plan_summary(plans[-1].payload), "the twin's stored plan when it was made"
    return plan_summary(None), "no plan was stored when it was made"


def latest_forecast(twin: Twin) -> tuple[Forecast, Artifact] | None:
    from braintwin.calibrate import Forecast

    art = twin.store.latest_artifact(twin.id, "forecast")
    if art is None:
        return None
    return Forecast.from_json(art.payload, art.volumes), art


def _progression_rows(p: dict[str, Any]) -> list[list[str]]:
    rows = [
        ["definition", str(p.get("definition", "–")).replace(">=", "≥").replace(" x ", " × ")],
        ["probability of progression within the horizon", fixed(p.get("p_progression_by_date"), 2)],
        ["median time to progression", _days(p.get("median_days"))],
        ["5th percentile", _days(p.get("q05_days"))],
        ["95th percentile", _days(p.get("q95_days"))],
    ]
    if p.get("horizon_days") is not None:
        rows.append(["horizon", f"{float(p['horizon_days']):.0f} days"])
    return rows


def _forecast(twin: Twin) -> Section | None:
    from braintwin.report.model_figures import probability_panel

    found = latest_forecast(twin)
    if found is None:
        return None
    fc, art = found
    visit = twin.visit(fc.start)
    background = visit.volumes.get(Modality.T1CE) or visit.reference
    plan, origin = forecast_plan(twin, art)
    pairs = ", ".join(compartment_label(c) for c in fc.volume_ml)
    blocks: list[Block] = [
        Paragraph(f"{plan} ({origin}).", lead="Treatment plan assumed:"),
        Paragraph(
            f"Forecast from {fc.start} to {fc.date} ({(fc.date - fc.start).days} days), "
            f"{fc.n_samples} parameter draws from the {fc.source}; predicted masks at "
            f"probability ≥ {fc.credibility:.2f}. Compartments and the observed regions they "
            f"predict: {pairs}. The T1ce-visible compartment is the whole tumour core inside "
            "the enhancing rim (TC = necrosis + enhancing), not the rim alone (ET). The volume "
            "bands are drawn on the timeline above."
        ),
    ]
    newest = twin.visit_dates()[-1]
    if fc.start < newest:
        blocks.append(
            Flag(
                f"This forecast was made from the visit of {fc.start}; a newer visit ({newest}) exists."
            )
        )
    rows = [
        [
            compartment_label(c),
            ml(float(q["q50"][-1])),
            f"{ml(float(q['q25'][-1]))} – {ml(float(q['q75'][-1]))}",
            f"{ml(float(q['q05'][-1]))} – {ml(float(q['q95'][-1]))}",
        ]
        for c, q in fc.volume_ml.items()
    ]
    blocks.append(
        Table.of([f"volume on {fc.date} (mL)", "median", "50 % interval", "90 % interval"], rows)
    )
    for compartment, prob in fc.probability.items():
        if prob.same_grid(background):
            title = f"P({compartment_label(compartment)}) on {fc.date}, plan {plan}"
            blocks.append(
                Figure(
                    probability_panel(background, prob, title=title, mask=visit.brain_mask),
                    title,
                    f"Probability that each voxel is inside the {compartment_label(compartment)} "
                    f"on {fc.date}, over the background of the visit of {fc.start}.",
                )
            )
    if fc.progression:
        blocks.append(Subheading(f"Time to progression ({compartment_label('enhancing')} volume)"))
        blocks.append(Table.of(["quantity", "value"], _progression_rows(fc.progression)))
    blocks += [Flag(n) for n in fc.notes]
    return Section("Forecast", blocks)


def _scores(twin: Twin) -> Section | None:
    from braintwin.twin.model import forecast_scores

    scores = forecast_scores(twin)
    if not scores:
        return None
    rows = [
        [
            str(s.forecast_from),
            str(s.target_date),
            s.plan,
            s.region + (" (old scoring)" if s.legacy else ""),
            fixed(s.dice, 2),
            ml(s.predicted_ml_median),
            ml(s.observed_ml),
            f"{s.volume_error_ml:+.1f}",
        ]
        for s in scores
    ]
    header = [
        "made from",
        "for",
        "plan assumed",
        "observed region",
        "Dice",
        "predicted mL",
        "observed mL",
        "error mL",
    ]
    blocks: list[Block] = [
        Paragraph(
            "Before each new visit was assimilated, the twin forecast it from its previous "
            "state; these are the errors of those prospective forecasts. The T1ce-visible "
            "compartment is compared with the observed tumour core (TC)."
        ),
        Table.of(header, rows),
    ]
    if any(s.legacy for s in scores):
        blocks.append(
            Flag(
                "Rows marked 'old scoring' were scored before like-with-like comparison: "
                "the prediction of the tumour core (TC) was compared with the enhancing rim "
                "(ET) alone, so their Dice and volume error do not measure the forecast of the "
                "region it predicts and are not comparable with the other rows."
            )
        )
    return Section("Forecasts scored against what happened", blocks)


def _plans(twin: Twin) -> Section | None:
    """The latest plan comparison (``braintwin plans compare``): table and figure."""
    from braintwin.report.plan_figures import plan_comparison_figure

    art = twin.store.latest_artifact(twin.id, "plan_comparison", load_volumes=False)
    if art is None:
        return None
    p = art.payload

    def months(d: float | None) -> str:
        return "beyond the horizon" if d is None else f"{d / _MONTH:.1f}"

    rows = [
        [
            s["name"],
            f"{s['total_dose_gy']:.0f} Gy / {s['n_fractions']}"
            + (" + TMZ" if s["temozolomide"] else ""),
            f"{months(s['ttp_median_days'])} [{months(s['ttp_q05_days'])}, {months(s['ttp_q95_days'])}]",
            sig(s["p_pfs_6m"], 2),
            sig(s["p_pfs_12m"], 2),
            f"{s['normal_brain']['v30_ml']:.0f}",
        ]
        for s in p["plans"]
    ]
    blocks: list[Block] = [
        Paragraph(
            f"Plans compared from {p['start']} over {p['n_samples']} posterior samples "
            f"({float(p['horizon_days']):.0f}-day horizon; posterior: {p.get('posterior_source')}; "
            f"radiotherapy target: {p.get('target', 'margin')}). A model prediction to support "
            "a decision, not a recommendation."
        ),
        Table.of(
            [
                "plan",
                "dose",
                "time to progression, months: median [90 % interval]",
                "P(progression-free) 6 months",
                "12 months",
                "normal brain V30 (EQD2, mL)",
            ],
            rows,
        ),
        Paragraph(str(p["definition"]) + ".", lead="Progression:"),
        Figure(plan_comparison_figure(p), "plan comparison"),
    ]
    blocks += [Flag(n) for n in p.get("notes", [])]
    return Section("Treatment plans compared", blocks)


def model_sections(twin: Twin) -> list[Section]:
    """Report sections for the twin's model state (empty before calibration)."""
    out = [_status(twin), _posterior(twin), _forecast(twin), _scores(twin), _plans(twin)]
    return [s for s in out if s is not None]
