"""Is the twin's model up to date with its visits? (derived from the store, never cached)

An ingest stores the visit first and updates the model afterwards; a process killed in between
leaves a visit the model has not seen. ``model_status`` says so, so that ``show``, the report and
the next command can warn and ``braintwin update`` can resume.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from braintwin.twin.twin import Twin

__all__ = ["ModelStatus", "model_status"]


@dataclass(frozen=True)
class ModelStatus:
    """The model's freshness.

    Attributes:
        stale: True when a segmented visit is newer than the newest posterior (or there is
            no posterior at all while segmented visits exist).
        posterior_date: last visit date (shifted) the newest posterior has seen, if any.
        newest_visit: newest segmented visit date (shifted), if any.
        reason: one human sentence (empty when up to date).
    """

    stale: bool
    posterior_date: dt.date | None
    newest_visit: dt.date | None
    reason: str = ""


def model_status(twin: Twin) -> ModelStatus:
    """The freshness of ``twin``'s model (reads only records, no images)."""
    store = twin.store
    if not store.has_patient(twin.id):
        return ModelStatus(False, None, None)
    segmented = [
        d
        for d in store.visit_dates(twin.id)
        if store.visit_record(twin.id, d)["meta"].get("segmentation") is not None
    ]
    newest = segmented[-1] if segmented else None
    art = store.latest_artifact(twin.id, "posterior", load_volumes=False)
    seen = art.visit_date if art is not None else None
    if newest is None:
        return ModelStatus(False, seen, None)
    if seen is None:
        return ModelStatus(
            True, None, newest, "the growth model has not been calibrated on the visits yet"
        )
    if seen < newest:
        return ModelStatus(
            True, seen, newest, f"the model has seen visits up to {seen}, not the visit of {newest}"
        )
    return ModelStatus(False, seen, newest)
