"""A visit's chapter of the report: images through the tumour centre, regions, QC, agreement.

Per visit: the grid and spacing of each modality, every modality's axial / coronal / sagittal
slice through the tumour centre with the segmentation outlined (the anatomy stays visible),
volumes and diameters per tumour region, the segmentation's uncertainty map, the Dice against
an expert label that came with the images, and for follow-up visits a registration check
against the first visit (:mod:`braintwin.report.qc`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from braintwin.report.document import Block, Figure, Flag, Paragraph, Section, Table
from braintwin.report.figures import orthogonal_panel
from braintwin.report.numbers import fixed, ml
from braintwin.types import Modality, Region, Visit, Volume

__all__ = ["visit_section"]

_REGIONS = (Region.WT, Region.TC, Region.ET, Region.EDEMA, Region.NECROSIS)
_REGION_NAMES = {
    "WT": "whole tumour (WT)",
    "TC": "tumour core (TC)",
    "ET": "enhancing tumour (ET)",
    "edema": "edema",
    "necrosis": "necrotic / non-enhancing core",
}


def region_name(region: str) -> str:
    return _REGION_NAMES.get(region, region)


def _shows(region: Region, observable: Collection[str]) -> bool:
    """Edema is WT minus TC and necrosis TC minus ET: each is seen when both of its parts
    are (segmenters declare only the evaluation regions WT/TC/ET)."""
    parts = {Region.EDEMA: ("WT", "TC"), Region.NECROSIS: ("TC", "ET")}
    return all(p in observable for p in parts.get(region, (region.value,)))


def _region_table(
    seg: Volume, measurements: Mapping[str, Any], observable: Collection[str], has_t1ce: bool
) -> Table:
    from braintwin.measure import measure_segmentation

    m = measurements or {str(k): v.to_dict() for k, v in measure_segmentation(seg).items()}
    rows = []
    for region in _REGIONS:
        r = m.get(region.value)
        if not r:
            continue
        if not _shows(region, observable):  # e.g. ET without a T1ce image: never "0 mL"
            why = "not observable" + ("" if has_t1ce else " (no T1ce)")
            rows.append([region_name(region.value), why, "–", "–"])
            continue
        rows.append(
            [
                region_name(region.value),
                ml(r.get("volume_ml", 0.0)),
                fixed(r.get("largest_diameter_mm")),
                fixed(r.get("bidimensional_mm2"), 0),
            ]
        )
    header = ["region", "volume (mL)", "largest diameter (mm)", "bidimensional product (mm²)"]
    return Table.of(header, rows)


def _uncertainty(visit: Visit, seg: Volume | None) -> Figure | None:
    from braintwin.report.model_figures import probability_panel

    unc = visit.extras.get("uncertainty")
    background = visit.volumes.get(Modality.T1CE) or visit.reference
    if unc is None or not unc.same_grid(background):
        return None
    png = probability_panel(
        background,
        unc,
        title="Segmentation uncertainty (test-time augmentation)",
        label="uncertainty (0 = all flips agree, 1 = maximal)",
        focus=seg,
        mask=visit.brain_mask,
    )
    return Figure(
        png,
        "segmentation uncertainty",
        "Disagreement of the network's whole-tumour probability across mirrored inputs "
        "(test-time augmentation), scaled to 0–1; bright rims mark boundaries to review. "
        "Exported as uncertainty.nii.gz by braintwin segment --export.",
    )


def visit_section(
    index: int,
    visit: Visit,
    *,
    baseline: Visit | None = None,
    extra: list[Section] | None = None,
) -> list[Section]:
    """The chapter of one visit (``index`` 0 is the baseline) and its sub-sections."""
    from braintwin.measure import observable_regions
    from braintwin.segment.evaluate import score_case

    seg = visit.segmentation
    expert = visit.extras.get("reference_seg")
    overlay, overlay_name = (
        (seg, "braintwin segmentation")
        if seg is not None
        else (expert, "expert label supplied with the images")
    )
    title = f"Visit {visit.date}" + (" (baseline)" if index == 0 else "")
    if baseline is not None:
        title += f", {(visit.date - baseline.date).days} days after the first visit"
    blocks: list[Block] = [
        Table.of(
            ["modality", "grid (voxels)", "spacing (mm)"],
            [
                [
                    m.value.upper(),
                    " × ".join(str(s) for s in visit.volumes[m].shape),
                    " × ".join(f"{s:.2f}" for s in visit.volumes[m].spacing),
                ]
                for m in visit.modalities
            ],
        )
    ]
    flags = list(visit.meta.get("segmentation", {}).get("flags", []))
    if visit.meta.get("synthetic") and visit.meta.get("note") not in flags:
        flags.insert(0, str(visit.meta.get("note", "SYNTHETIC visit")))
    if overlay is None:
        flags.append("No segmentation yet: run `braintwin segment` on this patient.")
    blocks += [Flag(str(f)) for f in flags]
    if visit.volumes:
        # One figure per modality (T1ce first), so the PDF can flow them across pages.
        order = sorted(visit.modalities, key=lambda m: m != Modality.T1CE)
        for k, m in enumerate(order):
            last = k == len(order) - 1
            blocks.append(
                Figure(
                    orthogonal_panel(
                        {m.value.upper(): visit.volumes[m]},
                        seg=overlay,
                        mask=visit.brain_mask,
                        legend=last,
                    ),
                    f"{m.value.upper()} slices through the tumour centre",
                    (
                        f"Slices through the centre of the tumour; outlines: {overlay_name}. "
                        "Radiological convention (the patient's right on the image's left); "
                        "R/L, A/P, S/I mark the patient's directions; the bar is to scale."
                    )
                    if last
                    else "",
                )
            )
    sections = [Section(title, blocks)]
    if overlay is not None:
        seen = observable_regions(
            [m.value for m in visit.modalities],
            (visit.meta.get("segmentation") or {}).get("observable_regions"),
        )
        table = _region_table(
            overlay,
            visit.measurements if seg is not None else {},
            seen if seg is not None else observable_regions(),
            Modality.T1CE in visit.volumes,
        )
        sections.append(Section(f"Tumour regions ({overlay_name})", [table], level=2))
    unc = _uncertainty(visit, overlay) if visit.volumes else None
    if unc is not None:
        sections.append(Section("Segmentation uncertainty", [unc], level=2))
    if seg is not None and expert is not None:
        scores = score_case(seg.data, expert.data, seg.spacing)
        dice, hd95 = scores["dice"], scores["hd95_mm"]
        sections.append(
            Section(
                "Agreement with the expert label supplied with the images",
                [
                    Table.of(
                        ["", *dice],
                        [
                            ["Dice", *(f"{d:.3f}" for d in dice.values())],
                            ["HD95 (mm)", *(fixed(hd95.get(k)) for k in dice)],
                        ],
                    )
                ],
                level=2,
            )
        )
    if baseline is not None:
        from braintwin.report.qc import registration_qc

        qc = registration_qc(baseline, visit)
        if qc is not None:
            sections.append(Section("Registration check against the first visit", qc, level=2))
    sections += extra or []
    if not visit.volumes:
        sections[0].blocks.append(Paragraph("No images stored for this visit.", muted=True))
    return sections
