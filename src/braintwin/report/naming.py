"""How outputs name model compartments, treatment plans and forecast scores.

One place, so the CLI, the report and the plots say the same thing (DESIGN.md convention 13):
a model compartment is always named with the observed region it predicts
(:data:`braintwin.growth.COMPARTMENT_REGIONS`: the T1ce-visible compartment is the tumour
core TC, the FLAIR-visible one the whole tumour WT), never "enhancing" alone, which readers
take for the enhancing rim ET.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from braintwin.growth import COMPARTMENT_REGIONS
from braintwin.types import TreatmentPlan

__all__ = ["compartment_label", "compartment_region", "plan_summary"]

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
