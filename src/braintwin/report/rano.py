"""The RANO table: per visit, the enhancing lesions' SPD, its change and the response.

Computed from each visit's stored measurements with :func:`braintwin.measure.assess_response`
(the same call as ``braintwin measure``): the response of visit k uses visits 0..k only, PD
against the nadir so far, PR/CR/SD against the baseline (Wen et al. 2010). Visits that cannot
show the enhancing lesion (no T1ce) are never read as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from braintwin.measure import VisitMeasurements, assess_response
from braintwin.report.document import Block, Paragraph, Table
from braintwin.report.numbers import DASH, fixed, ml, percent

__all__ = ["RanoRow", "rano_blocks", "rano_rows"]

CATEGORY_NAMES = {
    "CR": "CR (complete response)",
    "PR": "PR (partial response)",
    "SD": "SD (stable disease)",
    "PD": "PD (progressive disease)",
    "NE": "NE (not evaluable)",
}


@dataclass(frozen=True)
class RanoRow:
    """One visit's line (percentages None where undefined)."""

    label: str
    spd_mm2: float | None
    n_measurable: int | None
    et_ml: float | None
    wt_ml: float | None
    vs_baseline: float | None
    vs_nadir: float | None
    wt_change: float | None
    category: str
    compared_with: str
    reasons: tuple[str, ...] = ()


def _shows(v: VisitMeasurements, region: str) -> bool:
    return region in v.measurements and (v.observable is None or region in v.observable)


def _get(v: VisitMeasurements, region: str, key: str) -> Any:
    if not _shows(v, region):
        return None
    m = v.measurements[region]
    return m.get(key) if isinstance(m, dict) else getattr(m, key, None)


def _pct(after: float | None, before: float | None) -> float | None:
    if after is None or not before:
        return None
    return 100.0 * (after - before) / before


def rano_rows(visits: Sequence[VisitMeasurements]) -> list[RanoRow]:
    """One row per visit (date order, the first is the baseline)."""
    series = list(visits)
    rows: list[RanoRow] = []
    spds: list[tuple[str, float]] = []  # earlier visits that show the enhancing lesion
    for k, v in enumerate(series):
        spd = _get(v, "TC", "sum_of_products_mm2") if _shows(v, "ET") else None
        wt = _get(v, "WT", "volume_ml")
        base_spd = spds[0][1] if spds else None
        nadir_spd = min(s for _, s in spds) if spds else None
        reasons: tuple[str, ...] = ()
        if k == 0:
            cat, ref = "baseline", DASH
        else:
            resp = assess_response(series[: k + 1])["response"]
            cat, ref = resp["category"], str(resp["compared_with"] or DASH)
            reasons = tuple(str(r) for r in resp.get("reasons", []))
        wt0 = _get(series[0], "WT", "volume_ml")
        rows.append(
            RanoRow(
                label=v.label,
                spd_mm2=spd,
                n_measurable=_get(v, "TC", "n_measurable") if spd is not None else None,
                et_ml=_get(v, "ET", "volume_ml"),
                wt_ml=wt,
                vs_baseline=_pct(spd, base_spd) if k else None,
                vs_nadir=_pct(spd, nadir_spd) if k else None,
                wt_change=_pct(wt, wt0) if k else None,
                category=cat,
                compared_with=ref,
                reasons=reasons,
            )
        )
        if spd is not None:
            spds.append((v.label, float(spd)))
    return rows


def rano_blocks(visits: Sequence[VisitMeasurements]) -> list[Block]:
    """The table and a line of method for the report (nothing for a single visit)."""
    rows = rano_rows(visits)
    if len(rows) < 2:
        return []
    table = Table.of(
        [
            "visit",
            "SPD of enhancing lesions (mm²)",
            "measurable lesions",
            "ET (mL)",
            "WT (mL)",
            "SPD vs baseline",
            "SPD vs nadir",
            "WT vs baseline",
            "response",
            "compared with",
        ],
        [
            [
                r.label,
                fixed(r.spd_mm2, 0),
                DASH if r.n_measurable is None else str(r.n_measurable),
                ml(r.et_ml),
                ml(r.wt_ml),
                percent(r.vs_baseline),
                percent(r.vs_nadir),
                percent(r.wt_change),
                CATEGORY_NAMES.get(r.category, r.category),
                r.compared_with,
            ]
            for r in rows
        ],
    )
    last = rows[-1]
    blocks: list[Block] = [
        Paragraph(
            "Imaging part of RANO (Wen et al. 2010) from the stored segmentations: SPD = sum "
            "of the products of perpendicular diameters of the measurable (≥ 10 mm) "
            "contrast-enhancing lesions, measured with their necrotic core (TC). PD: SPD +25 % "
            "against the nadir, or the whole tumour +40 % in volume; PR: SPD −50 % against "
            "the baseline; CR: no enhancing tumour left. Clinical status, steroid dose and "
            "confirmation after 4 weeks are not assessed.",
            muted=True,
        ),
        table,
    ]
    if last.reasons:
        blocks.append(
            Paragraph("; ".join(last.reasons) + ".", lead=f"Latest visit ({last.label}):")
        )
    return blocks
