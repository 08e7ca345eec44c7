"""The HTML report: one self-contained file (figures embedded) per patient.

The report shows, per visit, orthogonal slices of every modality with the brain mask and the
segmentation overlay, volumes per tumour region and, when an expert label came with the images,
the Dice against it. Later stages (classification, calibration, forecasts) add ``Section``s.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from braintwin.atomic import atomic_write
from braintwin.report.figures import orthogonal_panel
from braintwin.types import Modality, Patient, Region, Visit, Volume

__all__ = ["Section", "build_report", "png_img"]

_REGIONS = (Region.WT, Region.TC, Region.ET, Region.EDEMA, Region.NECROSIS)


@dataclass
class Section:
    """A titled block of trusted HTML (built by braintwin code, never from user strings)."""

    title: str
    html: str


@dataclass
class _VisitView:
    index: int
    date: str
    modalities: list[dict[str, str]]
    figure: str
    overlay_name: str
    volumes: list[dict[str, Any]] = field(default_factory=list)
    has_diameters: bool = False
    dice: dict[str, float] = field(default_factory=dict)
    hd95: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    uncertainty: str = ""


def png_img(png: bytes, alt: str = "figure") -> str:
    """An ``<img>`` tag embedding PNG bytes."""
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt(x: Any, digits: int = 1) -> str:
    return "–" if x is None else f"{float(x):.{digits}f}"


def _region_rows(
    seg: Volume, measurements: dict[str, Any], observable: frozenset[str]
) -> tuple[list[dict[str, Any]], bool]:
    from braintwin.measure import measure_segmentation

    m = measurements or {str(k): v.to_dict() for k, v in measure_segmentation(seg).items()}
    rows = []
    has_diam = False
    for region in _REGIONS:
        r = m.get(region.value)
        if not r:
            continue
        if region.value not in observable:  # e.g. ET without a T1ce image: never "0 mL"
            rows.append(
                {
                    "region": region.value,
                    "volume_ml": "not observable (no T1ce)",
                    "diameter": "–",
                    "bidim": "–",
                }
            )
            continue
        diam = r.get("largest_diameter_mm")
        has_diam |= diam is not None
        rows.append(
            {
                "region": region.value,
                "volume_ml": _fmt(r.get("volume_ml", 0.0), 2),
                "diameter": _fmt(diam),
                "bidim": _fmt(r.get("bidimensional_mm2"), 0),
            }
        )
    return rows, has_diam


def _uncertainty_figure(visit: Visit, seg: Volume | None) -> str:
    """Base64 PNG of the segmentation's uncertainty map over the T1ce (or reference), or ""."""
    from braintwin.report.model_figures import probability_panel

    unc = visit.extras.get("uncertainty")
    background = visit.volumes.get(Modality.T1CE) or visit.reference
    if unc is None or not unc.same_grid(background):
        return ""
    png = probability_panel(
        background,
        unc,
        title="Segmentation uncertainty (test-time augmentation)",
        label="uncertainty (0 = all flips agree, 1 = maximal)",
        focus=seg,
    )
    return base64.b64encode(png).decode()


def _visit_view(index: int, visit: Visit, sections: list[Section]) -> _VisitView:
    from braintwin.measure import observable_regions
    from braintwin.segment.evaluate import score_case

    seg = visit.segmentation
    expert = visit.extras.get("reference_seg")
    overlay, overlay_name = (
        (seg, "braintwin segmentation")
        if seg is not None
        else (
            expert,
            "expert label supplied with the images",
        )
    )
    named = {m.value.upper(): visit.volumes[m] for m in visit.modalities}
    figure = orthogonal_panel(named, seg=overlay, mask=visit.brain_mask)
    rows: list[dict[str, Any]] = []
    has_diam = False
    if overlay is not None:
        seen = observable_regions(
            [m.value for m in visit.modalities],
            (visit.meta.get("segmentation") or {}).get("observable_regions"),
        )
        rows, has_diam = _region_rows(
            overlay,
            visit.measurements if seg is not None else {},
            seen if seg is not None else observable_regions(),
        )
    dice: dict[str, float] = {}
    hd95: dict[str, float | None] = {}
    if seg is not None and expert is not None:
        scores = score_case(seg.data, expert.data, seg.spacing)
        dice, hd95 = scores["dice"], scores["hd95_mm"]
    flags = list(visit.meta.get("segmentation", {}).get("flags", []))
    if visit.meta.get("synthetic") and visit.meta.get("note") not in flags:
        flags.insert(0, str(visit.meta.get("note", "SYNTHETIC visit")))
    if overlay is None:
        flags.append("No segmentation yet: run `braintwin segment` on this patient.")
    return _VisitView(
        index=index,
        date=str(visit.date),
        modalities=[
            {
                "name": m.value.upper(),
                "shape": " × ".join(str(s) for s in visit.volumes[m].shape),
                "spacing": " × ".join(f"{s:.2f}" for s in visit.volumes[m].spacing),
            }
            for m in visit.modalities
        ],
        figure=base64.b64encode(figure).decode(),
        overlay_name=overlay_name,
        volumes=rows,
        has_diameters=has_diam,
        dice=dice,
        hd95={k: _fmt(v) for k, v in hd95.items()},
        flags=flags,
        sections=sections,
        uncertainty=_uncertainty_figure(visit, overlay) if visit.volumes else "",
    )


def build_report(
    patient: Patient,
    out: Path,
    *,
    sections: list[Section] | None = None,
    visit_sections: dict[dt.date, list[Section]] | None = None,
) -> Path:
    """Write the patient's HTML report to ``out`` (atomically) and return the path."""
    import jinja2

    from braintwin import __version__

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("braintwin.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    per_visit = visit_sections or {}
    views = [
        _visit_view(i, v, per_visit.get(v.date, [])) for i, v in enumerate(patient.sorted_visits())
    ]
    html = env.get_template("report.html.j2").render(
        patient=patient.id,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        visits=views,
        sections=sections or [],
    )
    out = Path(out)
    atomic_write(out, html)
    return out
