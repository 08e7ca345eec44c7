"""``Store``: the persistent home of every patient twin.

Rows live in SQLite (``home/braintwin.db``) or PostgreSQL; volumes are content-addressed NIfTI
files in ``home/objects``. Every write is atomic (files and rows together, or nothing) and
re-saving a visit with the same source digest is a no-op.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload

from braintwin.atomic import PRIVATE_DIR
from braintwin.errors import StoreError
from braintwin.store.base import retry_transient
from braintwin.store.convert import check_patient_id
from braintwin.store.engine import create_store_engine, default_home, resolve_url, safe_url
from braintwin.store.locks import LOCKS_DIR, file_lock
from braintwin.store.maintenance import MaintenanceMixin
from braintwin.store.manage import ManageMixin
from braintwin.store.migrate import upgrade
from braintwin.store.models import (
    ArtifactRow,
    ArtifactVolumeRow,
    PatientRow,
    VisitRow,
    VolumeRow,
    utcnow,
)
from braintwin.store.objects import OBJECTS_DIR
from braintwin.store.records import PatientSummary, as_utc
from braintwin.store.staging import STAGING_DIR
from braintwin.types import Patient

__all__ = ["Store"]

_OPEN_LOCK = ".open.lock"


class Store(ManageMixin, MaintenanceMixin):
    """Patients, visits, volumes, artifacts and provenance events. Open with ``Store.open``."""

    def __init__(self, engine: Engine, home: Path, url: str) -> None:
        super().__init__(engine, home)
        self.url = url

    @classmethod
    def open(
        cls, url: str | None = None, home: Path | str | None = None, *, tidy: bool = True
    ) -> Store:
        """Open (creating and migrating as needed) the store.

        Folders are created owner-only (0700) and the SQLite database 0600 (its ``-wal`` and
        ``-shm`` files inherit that). Concurrent first opens are serialised (SQLite: a file
        lock in home; PostgreSQL: an advisory lock), and leftovers of killed writes are
        removed on the way (see :meth:`gc`; never waits for, or fails on, the clean-up).

        Args:
            url: SQLAlchemy database URL; default ``$BRAINTWIN_DB_URL``, else SQLite
                ``home/braintwin.db``.
            home: folder for volume files (and the SQLite file); default ``$BRAINTWIN_HOME``,
                else ``./braintwin-data``.
            tidy: run the clean-up of killed writes (``False``: leave the home as found, e.g.
                to inspect it with :meth:`verify`).
        """
        root = Path(home).expanduser().resolve() if home is not None else default_home()
        try:
            root.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            for sub in (OBJECTS_DIR, STAGING_DIR, LOCKS_DIR):
                (root / sub).mkdir(mode=PRIVATE_DIR, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"cannot create the braintwin home folder ({err.strerror})",
                "set BRAINTWIN_HOME to a writable folder",
            ) from err
        db_url = resolve_url(url, root)
        sqlite_file = _sqlite_file(db_url)
        # SQLite: one opener at a time creates the file, switches it to WAL and migrates it.
        guard = file_lock(root / _OPEN_LOCK) if sqlite_file else contextlib.nullcontext()
        with guard:
            if sqlite_file is not None and not sqlite_file.exists():
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(sqlite_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            engine = create_store_engine(db_url)
            try:
                retry_transient(upgrade)(engine)
            except OperationalError as err:
                engine.dispose()
                raise StoreError(
                    f"cannot open the database {safe_url(db_url)}",
                    "is the server running and the URL right? scripts/start-postgres.sh starts one",
                ) from err
            except BaseException:
                engine.dispose()
                raise
        store = cls(engine, root, db_url)
        if tidy:
            store._tidy_on_open()
        return store

    def __enter__(self) -> Store:
        return self

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)}, home={str(self.home)!r})"

    # -- patients -------------------------------------------------------------------------
    def has_patient(self, patient_id: str) -> bool:
        check_patient_id(patient_id)
        with self._reading() as s:
            return s.get(PatientRow, patient_id) is not None

    @retry_transient
    def add_patient(self, patient_id: str) -> bool:
        """Create a patient without visits; returns False when it already existed."""
        check_patient_id(patient_id)
        try:
            with self._atomic() as s:
                if s.get(PatientRow, patient_id) is not None:
                    return False
                s.add(PatientRow(id=patient_id, created_at=utcnow()))
                s.flush()  # the event row references it (no ORM relationship orders them)
                self._add_event(s, patient_id, "create_patient", {})
        except IntegrityError:
            if self.has_patient(patient_id):  # created concurrently by another process
                return False
            raise
        return True

    def list_patients(self) -> list[PatientSummary]:
        """Every patient with their number of visits and first/last (shifted) visit date."""
        stmt = (
            select(
                PatientRow.id,
                PatientRow.created_at,
                func.count(VisitRow.id),
                func.min(VisitRow.date),
                func.max(VisitRow.date),
            )
            .outerjoin(VisitRow, VisitRow.patient_id == PatientRow.id)
            .group_by(PatientRow.id, PatientRow.created_at)
            .order_by(PatientRow.id)
        )
        with self._reading() as s:
            return [
                PatientSummary(pid, int(n), _as_date(first), _as_date(last), as_utc(created))
                for pid, created, n, first, last in s.execute(stmt)
            ]

    def load_patient(self, patient_id: str, *, verify: bool = True) -> Patient:
        """The patient with every visit and its volumes (loaded eagerly), in date order.

        ``verify`` re-checks each file's checksum against the database.
        """
        check_patient_id(patient_id)
        with self._reading() as s:
            self._patient_row(s, patient_id)
            rows = s.scalars(
                select(VisitRow)
                .where(VisitRow.patient_id == patient_id)
                .options(selectinload(VisitRow.volumes))
                .order_by(VisitRow.date)
            ).all()
            return Patient(patient_id, [self._visit(r, verify=verify) for r in rows])

    @retry_transient
    def delete_patient(self, patient_id: str) -> None:
        """Delete a patient's rows (visits, volumes, artifacts, events) and unused files."""
        check_patient_id(patient_id)
        with self._atomic() as s:
            row = self._patient_row(s, patient_id)
            shas = _patient_shas(s, patient_id)
            s.delete(row)
        self._collect_garbage(shas)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (``None``: not SQLite, or in memory)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _as_date(value: Any) -> dt.date | None:
    # Aggregates over a Date column come back as ISO strings on SQLite.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _patient_shas(s: Session, patient_id: str) -> set[str]:
    shas = set(
        s.scalars(
            select(VolumeRow.sha256)
            .join(VisitRow, VolumeRow.visit_id == VisitRow.id)
            .where(VisitRow.patient_id == patient_id)
        )
    )
    shas.update(
        s.scalars(
            select(ArtifactVolumeRow.sha256)
            .join(ArtifactRow, ArtifactVolumeRow.artifact_id == ArtifactRow.id)
            .where(ArtifactRow.patient_id == patient_id)
        )
    )
    return shas
