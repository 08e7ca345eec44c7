"""The twin: a patient's visits timeline, model state and history."""

from braintwin.twin.ingest import IngestOptions, PreparedVisit, prepare_visit
from braintwin.twin.twin import AddVisitResult, Twin, resolve_patient

__all__ = [
    "AddVisitResult",
    "IngestOptions",
    "PreparedVisit",
    "Twin",
    "prepare_visit",
    "resolve_patient",
]
