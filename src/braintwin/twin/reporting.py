"""Assemble the twin's report from its stored visits and model artifacts.

Model results are named like with like (a compartment with the observed region it predicts,
see :mod:`braintwin.report.naming`), every forecast names the treatment plan it assumed, a
model older than the newest visit is flagged, and numbers are formatted (no raw records).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from braintwin.report import Section, build_report, png_img
from braintwin.report.naming import compartment_label, plan_summary
from braintwin.twin.twin import Twin
from braintwin.types import Modality

if TYPE_CHECKING:
    from braintwin.store.records import Artifact

__all__ = ["default_report_path", "model_sections", "write_report"]


def default_report_path(twin: Twin) -> Path:
    """``$BRAINTWIN_HOME/reports/<pseudonym>.html`` (the file name carries no identifier)."""
    return Path(twin.store.home) / "reports" / f"{twin.id}.html"


def _value(v: Any) -> str:
    """A stored value as a reader wants it: 3-4 significant digits, lists joined."""
    if isinstance(v, bool) or v is None:
        return "–" if v is None else ("yes" if v else "no")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return ", ".join(_value(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(x)}" for k, x in v.items())
    return str(v)


def _nested(v: Any) -> bool:
    """Records inside records (e.g. the emulator's stage boxes): too raw for a report."""
    return isinstance(v, dict) or (
        isinstance(v, list | tuple) and any(isinstance(x, dict | list | tuple) for x in v)
    )


def _flag(text: str) -> str:
    return f'<div class="flag">{html.escape(text)}</div>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _posterior_section(twin: Twin) -> Section | None:
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
                f"{s['median']:.4g}",
                f"{lo50:.4g} – {hi50:.4g}",
                f"{lo90:.4g} – {hi90:.4g}",
            ]
        )
    parts = [
        f"<p>Calibrated on {len(post.visit_dates)} visit(s) "
        f"({', '.join(str(d) for d in post.visit_dates)}); source: {html.escape(post.source)}. "
        f"History: {n_stored} posterior(s) stored.</p>",
        _table(["parameter", "unit", "median", "50 % interval", "90 % interval"], rows),
        png_img(posterior_figure(post.names, post.samples, prior), "posterior"),
    ]
    parts += [_flag(n) for n in post.notes]
    diag = [[k, _value(v)] for k, v in post.diagnostics.items() if not _nested(v)]
    if diag:
        parts.append('<p class="muted">Sampler diagnostics</p>')
        parts.append(_table(["quantity", "value"], diag))
    return Section("Growth model: posterior", "".join(parts))


def _forecast_plan(twin: Twin, art: Artifact) -> tuple[str, str]:
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


def _status_section(twin: Twin) -> Section | None:
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
    return Section("Model status", _flag(text))


def _forecast_section(twin: Twin) -> Section | None:
    from braintwin.calibrate import Forecast
    from braintwin.report.model_figures import probability_panel, volume_bands_figure

    art = twin.store.latest_artifact(twin.id, "forecast")
    if art is None:
        return None
    fc = Forecast.from_json(art.payload, art.volumes)
    visit = twin.visit(fc.start)
    background = visit.volumes.get(Modality.T1CE) or visit.reference
    plan, origin = _forecast_plan(twin, art)
    pairs = ", ".join(compartment_label(c) for c in fc.volume_ml)
    parts = [
        f"<p>Forecast from {fc.start} to {fc.date} ({(fc.date - fc.start).days} days), "
        f"{fc.n_samples} parameter draws from the {html.escape(fc.source)}; predicted masks at "
        f"probability ≥ {fc.credibility:.2f}.</p>",
        f"<p><b>Treatment plan assumed:</b> {html.escape(plan)} ({html.escape(origin)}).</p>",
        f"<p><b>Compartments and the observed regions they predict:</b> {html.escape(pairs)}. "
        "The T1ce-visible compartment is the whole tumour core inside the enhancing rim "
        "(TC = necrosis + enhancing), not the rim alone (ET).</p>",
    ]
    newest = twin.visit_dates()[-1]
    if fc.start < newest:
        parts.append(
            _flag(
                f"This forecast was made from the visit of {fc.start}; a newer visit "
                f"({newest}) exists."
            )
        )
    parts.append(png_img(volume_bands_figure(fc.days, fc.volume_ml), "volume bands"))
    for compartment, prob in fc.probability.items():
        if prob.same_grid(background):
            title = f"P({compartment_label(compartment)}) on {fc.date}"
            parts.append(png_img(probability_panel(background, prob, title=title), title))
    if fc.progression:
        # calibrate's wording says "enhancing volume" for the T1ce-visible (TC) compartment
        tc = f"{compartment_label('enhancing')} volume"
        rows = [
            [k.replace("_", " "), _value(v).replace("enhancing volume", tc)]
            for k, v in fc.progression.items()
            if not isinstance(v, list | dict)
        ]
        parts.append(
            "<h4>Time to progression (RANO-style volume threshold on the "
            f"{html.escape(compartment_label('enhancing'))})</h4>"
        )
        parts.append(_table(["quantity", "value"], rows))
    parts += [_flag(n) for n in fc.notes]
    return Section("Forecast", "".join(parts))


def _scores_section(twin: Twin) -> Section | None:
    from braintwin.twin.model import forecast_scores

    scores = forecast_scores(twin)
    if not scores:
        return None
    rows = [
        [
            s.forecast_from,
            s.target_date,
            s.plan,
            s.region + (" (old scoring)" if s.legacy else ""),
            _value(s.dice),
            _ml(s.predicted_ml_median),
            _ml(s.observed_ml),
            f"{s.volume_error_ml:+.1f}",
        ]
        for s in scores
    ]
    header = [
        "made from",
        "for",
        "plan",
        "observed region",
        "Dice",
        "predicted mL",
        "observed mL",
        "error mL",
    ]
    parts = [
        "<p>Before each new visit was assimilated, the twin forecast it from its previous "
        "state; these are the errors of those prospective forecasts. The T1ce-visible "
        "compartment is compared with the observed tumour core (TC).</p>",
        _table(header, rows),
    ]
    if any(s.legacy for s in scores):
        parts.append(
            _flag(
                "Rows marked 'old scoring' were scored before like-with-like comparison: "
                "the prediction of the tumour core (TC) was compared with the enhancing rim "
                "(ET) alone, so their Dice and volume error do not measure the forecast of the "
                "region it predicts and are not comparable with the other rows."
            )
        )
    return Section("Forecasts scored against what happened", "".join(parts))


def _ml(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _classification_section(record: dict[str, Any]) -> Section:
    probs = sorted(record["probabilities"].items(), key=lambda kv: -kv[1])
    parts = [
        f"<p>Most probable type: <b>{html.escape(record['label'])}</b>. "
        f"{html.escape(record.get('note', ''))}</p>",
        _table(["class", "calibrated probability"], [[c, f"{p:.3f}"] for c, p in probs]),
    ]
    parts += [_flag(f) for f in record.get("flags", [])]
    if record.get("explanation_png_b64"):
        parts.append(
            '<img alt="Grad-CAM" src="data:image/png;base64,'
            f'{record["explanation_png_b64"]}" style="max-width:360px">'
            '<p class="muted">Grad-CAM: where the classifier looked for this decision.</p>'
        )
    parts.append(
        '<div class="flag">Experimental: the classifier was trained on 2D slices of the Kaggle '
        "Brain Tumor MRI collection (validation accuracy 0.96 on de-duplicated images); on the "
        "14 shared 3D BraTS gliomas, through the same path as ingest (skull-stripped volumes, "
        "unlike most of its training slices), it named glioma for only 6 (braintwin eval "
        "classify-volumes). Do not rely on it for 3D volumes.</div>"
    )
    return Section("Tumour type (2D classifier on tumour slices)", "".join(parts))


def _plans_section(twin: Twin) -> Section | None:
    """The latest plan comparison (``braintwin plans compare``): table and figure."""
    from braintwin.report.plan_figures import plan_comparison_figure

    art = twin.store.latest_artifact(twin.id, "plan_comparison", load_volumes=False)
    if art is None:
        return None
    p = art.payload

    def months(d: float | None) -> str:
        return "beyond the horizon" if d is None else f"{d / 30.44:.1f}"

    rows = [
        [
            s["name"],
            f"{s['total_dose_gy']:.0f} Gy / {s['n_fractions']}"
            + (" + TMZ" if s["temozolomide"] else ""),
            f"{months(s['ttp_median_days'])} [{months(s['ttp_q05_days'])}, "
            f"{months(s['ttp_q95_days'])}]",
            _value(s["p_pfs_6m"]),
            _value(s["p_pfs_12m"]),
            f"{s['normal_brain']['v30_ml']:.0f}",
        ]
        for s in p["plans"]
    ]
    parts = [
        f"<p>Plans compared from {html.escape(str(p['start']))} over {p['n_samples']} "
        f"posterior samples ({p['horizon_days']:.0f}-day horizon; posterior: "
        f"{html.escape(str(p.get('posterior_source')))}; radiotherapy target: "
        f"{html.escape(str(p.get('target', 'margin')))}). A model prediction to support a "
        "decision, not a recommendation.</p>",
        _table(
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
        f"<p><b>Progression:</b> {html.escape(p['definition'])}.</p>",
        png_img(plan_comparison_figure(p), "plan comparison"),
    ]
    parts += [_flag(n) for n in p.get("notes", [])]
    return Section("Treatment plans compared", "".join(parts))


def model_sections(twin: Twin) -> list[Section]:
    """Report sections for the twin's model state (empty before calibration)."""
    out = [
        _status_section(twin),
        _posterior_section(twin),
        _forecast_section(twin),
        _scores_section(twin),
        _plans_section(twin),
    ]
    return [s for s in out if s is not None]


def write_report(twin: Twin, out: Path | None = None) -> Path:
    """Write the HTML report of ``twin`` and record it in the twin's history."""
    per_visit: dict[dt.date, list[Section]] = {}
    for date in twin.visit_dates():
        record = twin.store.visit_record(twin.id, date)["classification"]
        if record:
            per_visit[date] = [_classification_section(record)]
    path = build_report(
        twin.patient(),
        out or default_report_path(twin),
        sections=model_sections(twin),
        visit_sections=per_visit,
    )
    twin.store.log_event(twin.id, "report", {"file": path.name})
    return path
