"""Assemble the twin's report from its stored visits and model artifacts; write HTML or PDF.

One :class:`~braintwin.report.document.ReportDocument` feeds both formats: a plain-language
summary, the course over time (measured volumes, forecast bands, treatment timeline, RANO
table), one chapter per visit (slices through the tumour centre with orientation letters and a
scale bar, regions, registration check of follow-ups) and the model's chapters
(:mod:`braintwin.report.model_sections`). The report carries the pseudonym and shifted dates
only, never an identifier.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from braintwin.report.document import Figure, Flag, Paragraph, ReportDocument, Section
from braintwin.report.model_sections import forecast_plan, latest_forecast, model_sections
from braintwin.twin.twin import Twin
from braintwin.types import Region, TreatmentPlan, Visit

__all__ = [
    "build_document",
    "default_report_path",
    "model_sections",
    "write_report",
    "write_report_pdf",
]

_TIMELINE_REGIONS = (Region.WT.value, Region.TC.value, Region.ET.value)


def default_report_path(twin: Twin, suffix: str = ".html") -> Path:
    """``$BRAINTWIN_HOME/reports/<pseudonym>.html`` (the file name carries no identifier)."""
    return Path(twin.store.home) / "reports" / f"{twin.id}{suffix}"


@dataclass(frozen=True)
class _Stored:
    """What the summary, the timeline and the RANO table need of a visit (no image)."""

    date: dt.date
    measurements: dict[str, Any]
    observable: frozenset[str]
    synthetic: bool
    classification: dict[str, Any] | None

    @staticmethod
    def read(twin: Twin, date: dt.date) -> _Stored:
        from braintwin.measure import stored_observable

        rec = twin.store.visit_record(twin.id, date)
        return _Stored(
            date,
            rec["measurements"] or {},
            stored_observable(rec["meta"], rec["volumes"]),
            bool(rec["meta"].get("synthetic")),
            rec["classification"],
        )

    def volumes(self) -> dict[str, float]:
        """Measured volume (mL) per timeline region the visit can show; {} if not segmented."""
        m = self.measurements
        return {
            r: float(m[r]["volume_ml"])
            for r in _TIMELINE_REGIONS
            if r in m and r in self.observable and m[r].get("volume_ml") is not None
        }


def _classification(record: dict[str, Any]) -> Section:
    import base64

    from braintwin.report.document import Table

    probs = sorted(record["probabilities"].items(), key=lambda kv: -kv[1])
    blocks: list[Any] = [
        Paragraph(f"{record['label']}. {record.get('note', '')}", lead="Most probable type:"),
        Table.of(["class", "calibrated probability"], [[c, f"{p:.2f}"] for c, p in probs]),
    ]
    blocks += [Flag(str(f)) for f in record.get("flags", [])]
    if record.get("explanation_png_b64"):
        blocks.append(
            Figure(
                base64.b64decode(record["explanation_png_b64"]),
                "Grad-CAM",
                "Grad-CAM: where the classifier looked for this decision.",
                width=0.4,
            )
        )
    blocks.append(
        Flag(
            "Experimental: the classifier was trained on 2D slices of the Kaggle Brain Tumor MRI "
            "collection (validation accuracy 0.96 on de-duplicated images); on the 14 shared 3D "
            "BraTS gliomas, through the same path as ingest (skull-stripped volumes, unlike most "
            "of its training slices), it named glioma for only 6 (braintwin eval "
            "classify-volumes). Do not rely on it for 3D volumes."
        )
    )
    return Section("Tumour type (2D classifier on tumour slices)", blocks, level=2)


def _plan_of(twin: Twin, art: Any) -> TreatmentPlan | None:
    from braintwin.twin.model import load_plan

    stored = art.payload.get("plan") if art is not None else None
    if stored:
        return TreatmentPlan.model_validate(stored)
    return load_plan(twin)


def _course(twin: Twin, visits: list[_Stored]) -> tuple[Section, Any]:
    """The "course over time" chapter and the facts the summary needs from it."""
    from braintwin.measure import VisitMeasurements
    from braintwin.report.naming import compartment_label
    from braintwin.report.rano import rano_blocks, rano_rows
    from braintwin.report.summary import ForecastFacts
    from braintwin.report.timeline import ForecastBands, VisitVolumes, timeline_figure

    found = latest_forecast(twin)
    bands, facts, plan = None, None, None
    if found is not None:
        fc, art = found
        label, _ = forecast_plan(twin, art)
        bands = ForecastBands(fc.start, fc.days, fc.volume_ml, label)
        plan = _plan_of(twin, art)
        tc = fc.volume_ml.get("enhancing")
        end = {q: None if tc is None else float(tc[q][-1]) for q in ("q50", "q05", "q95")}
        facts = ForecastFacts(
            fc.start,
            fc.date,
            label,
            tc_median_ml=end["q50"],
            tc_q05_ml=end["q05"],
            tc_q95_ml=end["q95"],
            ttp_median_days=(fc.progression or {}).get("median_days"),
        )
    else:
        plan = _plan_of(twin, None)
    timeline = [VisitVolumes(v.date, v.volumes()) for v in visits if v.volumes()]
    blocks: list[Any] = []
    if timeline:
        caption = (
            "Measured volumes per region at each visit; after the forecast's start, the "
            f"model's median (dashed) and 50 % / 90 % bands ({compartment_label('enhancing')} "
            f"→ TC, {compartment_label('flair')} → WT). Bottom: the treatment plan the forecast "
            "assumed (one tick per radiotherapy fraction; bars: chemotherapy)."
        )
        blocks.append(
            Figure(timeline_figure(timeline, forecast=bands, plan=plan), "timeline", caption)
        )
    series = [
        VisitMeasurements(str(v.date), v.measurements, v.observable)
        for v in visits
        if v.measurements
    ]
    blocks += rano_blocks(series)
    rows = rano_rows(series) if len(series) > 1 else []
    response = (rows[-1].category, _basis(rows[-1], rows[0].label)) if rows else (None, None)
    return Section("Course over time", blocks), (facts, response)


def _synthetic_note(visits: list[_Stored]) -> list[str]:
    fake = [str(v.date) for v in visits if v.synthetic]
    if not fake:
        return []
    return [
        f"Caution: the visit(s) of {', '.join(fake)} are SYNTHETIC (simulated by the growth "
        "model, not patient images), so the change and response above describe the "
        "simulation, not this patient."
    ]


def _basis(row: Any, baseline: str) -> str | None:
    """What a RANO row's category rests on, in words (SPD change against its reference)."""
    from braintwin.report.numbers import percent

    pct = row.vs_baseline if row.compared_with == baseline else row.vs_nadir
    if pct is None or row.compared_with in ("–", None):
        return None
    role = "baseline" if row.compared_with == baseline else "nadir"
    return f"SPD {percent(pct)} against the {role} of {row.compared_with}"


def _clinical(twin: Twin) -> Section | None:
    """The clinical course imported from the hospital record (``import fhir``), as a timeline."""
    from braintwin.clinical.summary import course_lines
    from braintwin.report.document import Table
    from braintwin.twin.clinical import load_course

    stored = load_course(twin)
    if stored is None:
        return None
    course = stored.course
    rows = [
        tuple(line.strip().split("  ", 1))
        for line in course_lines(course)
        if not line.strip().startswith("flag:")
    ]
    blocks: list[Any] = [
        Paragraph(
            "Imported from the hospital record (FHIR); dates on the twin's shifted timeline. "
            "Its radiotherapy and temozolomide courses are the treatment plan 'clinical-record' "
            "when no other plan was set since."
        ),
        Table(("date", "event"), tuple((r[0], r[1] if len(r) > 1 else "") for r in rows)),
    ]
    blocks += [Flag(f) for f in course.flags]
    return Section("Clinical course", blocks)


def build_document(twin: Twin) -> ReportDocument:
    """The report of ``twin`` as a document (both formats render it)."""
    from braintwin import __version__
    from braintwin.report.summary import SummaryFacts, plain_summary
    from braintwin.report.visits import visit_section
    from braintwin.twin.state import model_status

    stored = [_Stored.read(twin, d) for d in twin.visit_dates()]
    course, (forecast, (response, basis)) = _course(twin, stored)
    sections = [course] if course.blocks else []
    clinical = _clinical(twin)
    if clinical is not None:
        sections.insert(0, clinical)
    # One visit's images at a time (and the first visit's, for the registration check).
    first: Visit | None = None
    for i, rec in enumerate(stored):
        visit = twin.visit(rec.date)
        first = first or visit
        extra = [_classification(rec.classification)] if rec.classification else []
        sections += visit_section(i, visit, baseline=first if i else None, extra=extra)
    sections += model_sections(twin)
    facts = SummaryFacts(
        dates=[v.date for v in stored],
        volumes=[v.volumes() for v in stored],
        response=response,
        response_basis=basis,
        forecast=forecast,
        model_stale=model_status(twin).stale,
        notes=_synthetic_note(stored),
    )
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return ReportDocument(
        pseudonym=twin.id,
        generated=f"{when} by braintwin {__version__}",
        summary=plain_summary(facts),
        sections=sections,
    )


def write_report(twin: Twin, out: Path | None = None) -> Path:
    """Write the HTML report of ``twin`` and record it in the twin's history."""
    from braintwin.report.html import write_html

    path = write_html(build_document(twin), out or default_report_path(twin))
    twin.store.log_event(twin.id, "report", {"file": path.name, "format": "html"})
    return path


def write_report_pdf(twin: Twin, path: Path | None = None) -> Path:
    """Write the PDF report of ``twin`` (A4, same content as the HTML) and record it."""
    from braintwin.report.pdf import write_pdf

    out = write_pdf(build_document(twin), path or default_report_path(twin, ".pdf"))
    twin.store.log_event(twin.id, "report", {"file": out.name, "format": "pdf"})
    return out
