"""In-silico follow-up visits for a twin (demo and testing), always labelled SYNTHETIC.

The growth model is run forward from the twin's latest segmented visit with known parameters;
the simulated density is observed through the thresholds of the observation model to give the
follow-up segmentation. The images of the synthetic visit are the baseline images (nothing is
synthesised at the image level), so only its segmentation and density carry information — the
report and ``show`` say so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from braintwin.errors import NotFoundError
from braintwin.types import Visit

if TYPE_CHECKING:
    from braintwin.growth import GrowthParameters
    from braintwin.twin.twin import Twin
    from braintwin.types import TreatmentPlan

__all__ = ["SYNTHETIC_NOTE", "add_insilico_visit"]

SYNTHETIC_NOTE = (
    "SYNTHETIC visit: segmentation simulated by the growth model from the previous visit "
    "(images copied from that visit); not patient data"
)


def add_insilico_visit(
    twin: Twin,
    days: int,
    params: GrowthParameters,
    *,
    plan: TreatmentPlan | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> dt.date:
    """Store a synthetic visit ``days`` after the latest one; return its (shifted) date."""
    from braintwin.growth import grow_from_segmentation, to_segmentation
    from braintwin.measure import measure_segmentation
    from braintwin.twin.model import segmentation_fingerprint

    base = twin.visit()
    seg = base.segmentation or base.extras.get("reference_seg")
    if seg is None or base.brain_mask is None:
        raise NotFoundError(
            "the latest visit has no segmentation to grow from", "run `braintwin segment ID`"
        )
    date = base.date + dt.timedelta(days=days)
    run = grow_from_segmentation(
        seg, base.brain_mask, params, plan, base.date, date, progress=progress
    )
    new_seg = to_segmentation(run.final)
    truth = {"parameters": params.model_dump(), "days": days, "plan": plan and plan.name}
    visit = Visit(
        date=date,
        volumes=dict(base.volumes),
        brain_mask=base.brain_mask,
        segmentation=new_seg,
        extras={"density": run.final},
        measurements={str(k): m.to_dict() for k, m in measure_segmentation(new_seg).items()},
        meta={
            "synthetic": True,
            "note": SYNTHETIC_NOTE,
            "truth": truth,
            "sources": ["in-silico (braintwin growth model)"],
            "segmentation": {
                "method": "growth-model simulation",
                "flags": [SYNTHETIC_NOTE],
                "fingerprint": segmentation_fingerprint(new_seg),
            },
        },
    )
    digest = hashlib.sha256(
        json.dumps({"from": str(base.date), **truth}, sort_keys=True, default=str).encode()
    ).hexdigest()
    twin.store.save_visit(twin.id, visit, digest=digest)
    twin.store.log_event(twin.id, "add_insilico_visit", {"date": str(date), **truth})
    return date
