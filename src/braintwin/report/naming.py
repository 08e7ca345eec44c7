"""How outputs name model compartments, treatment plans and forecast scores.

One place, so the CLI, the report and the plots say the same thing (DESIGN.md convention 13):
a model compartment is always named with the observed region it predicts
(:data:`braintwin.growth.COMPARTMENT_REGIONS`: the T1ce-visible compartment is the tumour
core TC, the FLAIR-visible one the whole tumour WT), never "enhancing" alone, which readers
take for the enhancing rim ET.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from braintwin.growth import COMPARTMENT_REGIONS
from braintwin.types import TreatmentPlan

__all__ = [
    "ScoreView",
    "compartment_label",
    "compartment_region",
    "plan_summary",
    "score_view",
]

_COMPARTMENT_NAMES = {"enhancing": "T1ce-visible tumour", "flair": "FLAIR-visible tumour"}


def compartment_region(compartment: str) -> str | None:
    """The observed region (``"TC"``, ``"WT"``) a model compartment predicts, if known."""
    region = COMPARTMENT_REGIONS.get(compartment)
    return None if region is None else region.value


def compartment_label(compartment: str) -> str:
    """E.g. ``"T1ce-visible tumour (TC)"`` for ``"enhancing"``."""
    name = _COMPARTMENT_NAMES.get(compartment, compartment)
    region = compartment_region(compartment)
    return name if region is None else f"{name} ({region})"


def plan_summary(plan: TreatmentPlan | Mapping[str, Any] | None) -> str:
    """One line naming a treatment plan, e.g. ``"'stupp' from 2019-03-05: 60 Gy in 30
    fractions + temozolomide"``; ``None`` is untreated growth."""
    if plan is None:
        return "none (untreated growth)"
    tp = plan if isinstance(plan, TreatmentPlan) else TreatmentPlan.model_validate(dict(plan))
    rt = tp.radiotherapy
    parts = [f"{rt.total_dose_gy:.0f} Gy in {len(rt.fractions)} fractions"] if rt else []
    parts += sorted({c.drug for c in tp.chemotherapy})
    what = " + ".join(parts) if parts else "no treatment"
    return f"{tp.name!r} from {tp.start}: {what}"


@dataclass(frozen=True)
class ScoreView:
    """A stored forecast score, read tolerantly (older records compared with ET).

    Attributes:
        forecast_from, target_date: dates (shifted) as stored.
        region: the observed region the prediction was compared with.
        dice, predicted_ml, observed_ml, error_ml: the score (mL; None when absent).
        legacy: the record predates like-with-like scoring (a TC-sized prediction was
            compared with the enhancing rim ET alone, so its error is not meaningful).
    """

    forecast_from: str
    target_date: str
    region: str
    dice: float | None
    predicted_ml: float | None
    observed_ml: float | None
    error_ml: float | None
    legacy: bool


def _num(record: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def score_view(record: Mapping[str, Any]) -> ScoreView:
    """Read a ``forecast_score`` record of either format."""
    legacy = "region" not in record
    return ScoreView(
        forecast_from=str(record.get("forecast_from", "?")),
        target_date=str(record.get("target_date", "?")),
        region=str(record.get("region", "ET")),
        dice=_num(record, "dice", "dice_enhancing"),
        predicted_ml=_num(record, "predicted_ml_median", "predicted_enhancing_ml_median"),
        observed_ml=_num(record, "observed_ml", "observed_enhancing_ml"),
        error_ml=_num(record, "volume_error_ml"),
        legacy=legacy,
    )
