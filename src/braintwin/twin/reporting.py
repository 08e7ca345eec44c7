"""Assemble the twin's report from its stored visits and model artifacts."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.report import Section, build_report, png_img
from braintwin.twin.twin import Twin
from braintwin.types import Modality

__all__ = ["default_report_path", "model_sections", "write_report"]


def default_report_path(twin: Twin) -> Path:
    """``$BRAINTWIN_HOME/reports/<pseudonym>.html`` (the file name carries no identifier)."""
    return Path(twin.store.home) / "reports" / f"{twin.id}.html"


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
    parts += [f'<div class="flag">{html.escape(n)}</div>' for n in post.notes]
    diag = {k: v for k, v in post.diagnostics.items() if isinstance(v, int | float | str)}
    if diag:
        parts.append(f'<p class="muted">Sampler diagnostics: {html.escape(str(diag))}</p>')
    return Section("Growth model: posterior", "".join(parts))


def _forecast_section(twin: Twin) -> Section | None:
    from braintwin.calibrate import Forecast
    from braintwin.report.model_figures import probability_panel, volume_bands_figure

    art = twin.store.latest_artifact(twin.id, "forecast")
    if art is None:
        return None
    fc = Forecast.from_json(art.payload, art.volumes)
    visit = twin.visit(fc.start)
    background = visit.volumes.get(Modality.T1CE) or visit.reference
    parts = [
        f"<p>Forecast from {fc.start} to {fc.date} ({(fc.date - fc.start).days} days), "
        f"{fc.n_samples} parameter draws from the {html.escape(fc.source)}; predicted masks at "
        f"probability ≥ {fc.credibility:.2f}.</p>",
        png_img(volume_bands_figure(fc.days, fc.volume_ml), "volume bands"),
    ]
    for region, prob in fc.probability.items():
        if prob.same_grid(background):
            title = f"P(tumour {region}) on {fc.date}"
            parts.append(png_img(probability_panel(background, prob, title=title), title))
    if fc.progression:
        rows = [[k, v] for k, v in fc.progression.items() if not isinstance(v, list | dict)]
        parts.append("<h4>Time to progression (RANO-style volume threshold)</h4>")
        parts.append(_table(["quantity", "value"], rows))
    parts += [f'<div class="flag">{html.escape(n)}</div>' for n in fc.notes]
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
            f"{s.compartment} vs {s.region}",
            f"{s.dice:.3f}",
            f"{s.predicted_ml_median:.2f}",
            f"{s.observed_ml:.2f}",
            f"{s.volume_error_ml:+.2f}",
        ]
        for s in scores
    ]
    header = [
        "made from",
        "for",
        "plan",
        "compartment vs observed region",
        "Dice",
        "predicted mL",
        "observed mL",
        "error mL",
    ]
    return Section(
        "Forecasts scored against what happened",
        "<p>Before each new visit was assimilated, the twin forecast it from its previous "
        "state; these are the errors of those prospective forecasts.</p>" + _table(header, rows),
    )


def _classification_section(record: dict[str, Any]) -> Section:
    probs = sorted(record["probabilities"].items(), key=lambda kv: -kv[1])
    parts = [
        f"<p>Most probable type: <b>{html.escape(record['label'])}</b>. "
        f"{html.escape(record.get('note', ''))}</p>",
        _table(["class", "calibrated probability"], [[c, f"{p:.3f}"] for c, p in probs]),
    ]
    if record.get("explanation_png_b64"):
        parts.append(
            '<img alt="Grad-CAM" src="data:image/png;base64,'
            f'{record["explanation_png_b64"]}" style="max-width:360px">'
            '<p class="muted">Grad-CAM: where the classifier looked for this decision.</p>'
        )
    parts.append(
        '<div class="flag">Experimental: the classifier was trained on 2D slices of the Kaggle '
        "Brain Tumor MRI collection (validation accuracy 0.96 on de-duplicated images); on the "
        "14 shared 3D BraTS gliomas (skull-stripped volumes, unlike most of its training "
        "slices) it named glioma for only 5 (braintwin eval classify-volumes). Do not rely on "
        "it for 3D volumes.</div>"
    )
    return Section("Tumour type (2D classifier on tumour slices)", "".join(parts))


def model_sections(twin: Twin) -> list[Section]:
    """Report sections for the twin's model state (empty before calibration)."""
    out = [s for s in (_posterior_section(twin), _forecast_section(twin), _scores_section(twin))]
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
