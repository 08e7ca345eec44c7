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
    from braintwin.measure import VisitMeasurements
    from braintwin.twin.model import TwinRef

__all__ = [
    "SEGMENTATION_ROLE",
    "ModelStatus",
    "model_status",
    "response_series",
    "segmentation_fingerprints",
]

#: The name the store gives a visit's segmentation among its volumes (``visit_record``).
SEGMENTATION_ROLE = "seg"


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


def segmentation_fingerprints(ref: TwinRef) -> dict[str, str | None]:
    """Segmented visits (ISO date) -> the fingerprint recorded with their segmentation (None
    when stored without one); reads records only."""
    out: dict[str, str | None] = {}
    for d in ref.store.visit_dates(ref.id):
        record = ref.store.visit_record(ref.id, d)
        if SEGMENTATION_ROLE in record["volumes"]:
            out[str(d)] = (record["meta"].get("segmentation") or {}).get("fingerprint")
    return out


def model_status(ref: TwinRef) -> ModelStatus:
    """The freshness of the twin's model (reads only records, no images).

    Stale when a segmented visit is one the newest posterior has not seen, when a visit it saw
    was re-segmented (its segmentation fingerprint changed), deleted or re-dated.
    """
    store = ref.store
    if not store.has_patient(ref.id):
        return ModelStatus(False, None, None)
    segmented = segmentation_fingerprints(ref)
    newest = dt.date.fromisoformat(max(segmented)) if segmented else None
    art = store.latest_artifact(ref.id, "posterior", load_volumes=False)
    seen_date = art.visit_date if art is not None else None
    if newest is None:
        return ModelStatus(False, seen_date, None)
    if art is None:
        return ModelStatus(
            True, None, newest, "the growth model has not been calibrated on the visits yet"
        )
    seen: dict[str, str] = dict(art.payload.get("segmentations_seen", {}))
    if not seen:  # a posterior stored before fingerprints were recorded: compare dates
        seen = {d: segmented.get(d) or "" for d in art.payload.get("visit_dates", [])}
    unseen = sorted(d for d in segmented if d not in seen)
    if unseen:
        return ModelStatus(
            True, seen_date, newest, f"the model has not seen the visit(s) of {', '.join(unseen)}"
        )
    changed = sorted(d for d, fp in seen.items() if fp and segmented.get(d) not in (None, fp))
    if changed:
        return ModelStatus(
            True,
            seen_date,
            newest,
            f"the segmentation of {', '.join(changed)} changed after the model was calibrated",
        )
    gone = sorted(d for d in seen if d not in segmented)
    if gone:
        return ModelStatus(
            True, seen_date, newest, f"visit(s) the model was built on are gone: {', '.join(gone)}"
        )
    return ModelStatus(False, seen_date, newest)


def response_series(twin: TwinRef, upto: dt.date) -> list[VisitMeasurements]:
    """The measured visits up to ``upto`` (shifted date), each with the regions it can show:
    what ``assess_response`` judges the visit on ``upto`` from (RANO-style)."""
    from braintwin.measure import VisitMeasurements, stored_observable

    series = []
    for d in twin.store.visit_dates(twin.id):
        if d > upto:
            break
        rec = twin.store.visit_record(twin.id, d)
        if rec["measurements"]:
            seen = stored_observable(rec["meta"], rec["volumes"])
            series.append(VisitMeasurements(str(d), rec["measurements"], seen))
    return series
