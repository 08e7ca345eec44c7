"""Persistence: patients, visits and derived results in SQLite or PostgreSQL.

Volumes are content-addressed NIfTI files under ``$BRAINTWIN_HOME/objects``; every write is
atomic and re-saving the same visit is a no-op. Open with :meth:`Store.open`. Crash safety,
concurrency, ``patient_lock``, visit management and ``gc``/``verify``: ``docs/store.md``.
"""

from braintwin.store.engine import default_home
from braintwin.store.maintenance import GcReport, VerifyReport
from braintwin.store.records import Artifact, Event, PatientSummary, SaveResult
from braintwin.store.store import Store

__all__ = [
    "Artifact",
    "Event",
    "GcReport",
    "PatientSummary",
    "SaveResult",
    "Store",
    "VerifyReport",
    "default_home",
]
