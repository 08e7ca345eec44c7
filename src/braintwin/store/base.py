"""The store's machinery: sessions, the atomic write unit, provenance rows, garbage collection.

``Store`` (in ``store.py``) builds its public API on this class.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from braintwin.errors import NotFoundError, StoreError
from braintwin.store.convert import check_patient_id
from braintwin.store.engine import WRITE_OPTION
from braintwin.store.locks import PatientLock
from braintwin.store.models import ArtifactVolumeRow, EventRow, PatientRow, VolumeRow, utcnow
from braintwin.store.objects import OBJECTS_DIR, CanonicalVolume, object_relpath
from braintwin.store.records import to_json
from braintwin.store.staging import Staging, objects_lock

__all__ = ["StoreBase", "is_transient", "retry_transient"]

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("braintwin.store")

# Errors a retry of the whole transaction can cure: SQLite's busy/locked (a lock timeout or a
# read transaction that could not be upgraded), PostgreSQL's serialisation failures/deadlocks.
_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "database schema has changed",
    "deadlock detected",
    "could not serialize access",
)
_SQLSTATES = {"40001", "40P01", "55P03"}
RETRIES = 6
_SHA_NAME = re.compile(r"^[0-9a-f]{64}\.nii\.gz$")
_BACKOFF_S = 0.05


def is_transient(err: BaseException) -> bool:
    """Whether ``err`` is a lock/serialisation failure that a retry of the transaction cures."""
    if not isinstance(err, DBAPIError):
        return False
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "pgcode", None)
    return code in _SQLSTATES or any(t in str(err.orig).lower() for t in _TRANSIENT)


def retry_transient(fn: Callable[P, R]) -> Callable[P, R]:
    """Re-run a store write (its own transaction) on a transient lock error, with backoff.

    The failed attempt was rolled back completely (``_atomic``), so running it again is safe.
    After ``RETRIES`` tries the error becomes a ``StoreError`` naming the lock.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(RETRIES):
            try:
                return fn(*args, **kwargs)
            except DBAPIError as err:
                if not is_transient(err):
                    raise
                if attempt == RETRIES - 1:
                    raise StoreError(
                        "the database stayed locked by other writers",
                        "try again; with many concurrent writers use PostgreSQL (BRAINTWIN_DB_URL)",
                    ) from err
                delay = _BACKOFF_S * 2**attempt * (0.5 + random.random())
                log.debug("%s: transient lock error, retry in %.2f s", fn.__name__, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


class StoreBase:
    """Engine, home folder and the transactional building blocks shared by the store's API."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.home = home
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self._patient_locks = PatientLock(engine, home)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Release database connections (the store can be reopened with ``Store.open``)."""
        self.engine.dispose()

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    # -- building blocks ------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextlib.contextmanager
    def _atomic(self, volumes: Iterable[CanonicalVolume] = ()) -> Iterator[Session]:
        """One all-or-nothing write: staged files + one DB transaction.

        Files are written to a staging folder before the transaction opens; the body adds rows;
        then rows are flushed, files moved into ``objects/`` and the transaction committed under
        the objects lock. Any exception (KeyboardInterrupt included) rolls the transaction back
        and removes every file this write created.
        """
        staging = Staging(self.home, volumes)
        session = self._write()
        try:
            staging.write()
            yield session
            session.flush()
            staging.commit(session.commit)
        except BaseException:
            session.rollback()
            staging.discard()
            raise
        finally:
            session.close()
            staging.close()

    def _patient_row(self, session: Session, patient_id: str) -> PatientRow:
        row = session.get(PatientRow, patient_id)
        if row is None:
            raise NotFoundError(
                f"no patient {patient_id!r} in the store",
                "`braintwin patients` lists the stored patients",
            )
        return row

    def _add_event(self, session: Session, patient_id: str, action: str, details: Any) -> EventRow:
        from braintwin import __version__

        row = EventRow(
            patient_id=patient_id,
            action=action,
            details=to_json(details or {}, "event details"),
            braintwin_version=__version__,
            created_at=utcnow(),
        )
        session.add(row)
        return row

    # -- garbage collection ---------------------------------------------------------------
    def _referenced(self, session: Session, shas: set[str] | None) -> set[str]:
        out: set[str] = set()
        for col in (VolumeRow.sha256, ArtifactVolumeRow.sha256):
            stmt = select(col).distinct()
            if shas is not None:
                stmt = stmt.where(col.in_(shas))
            out.update(session.scalars(stmt))
        return out

    def _collect_garbage(self, shas: set[str] | None) -> int:
        """Delete object files no row references; ``None`` checks every object. Returns count."""
        objects = self.home / OBJECTS_DIR
        with objects_lock(self.home), self._reading() as session:
            if shas is None:
                candidates = {
                    p.name.removesuffix(".nii.gz")
                    for p in objects.glob("*/*.nii.gz")
                    if _SHA_NAME.match(p.name)
                }
            else:
                candidates = set(shas)
            if not candidates:
                return 0
            unused = candidates - self._referenced(session, candidates)
            for sha in unused:
                path = self.home / object_relpath(sha)
                path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.parent.rmdir()
        return len(unused)

    # -- the twin's write lock ------------------------------------------------------------
    def patient_lock(
        self, patient_id: str, *, timeout_s: float | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Exclusive lock over one patient's twin, across processes: ``with store.patient_lock(pid):``.

        Hold it around "read the twin's state → compute → write" (e.g. a model update) so two
        processes cannot both update from the same old state and lose one update. PostgreSQL:
        a session advisory lock keyed by the pseudonym; SQLite: ``home/locks/<pseudonym>.lock``
        (``flock``). Either is released when the block ends or the process dies. Re-entrant
        within one thread; other threads and processes wait (``timeout_s``: at most that long,
        then ``StoreError``). Store writes do not take it themselves: each is atomic alone.
        """
        check_patient_id(patient_id)
        return self._patient_locks.hold(patient_id, timeout_s=timeout_s)
