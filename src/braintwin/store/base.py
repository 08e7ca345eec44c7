"""The store's machinery: sessions, the atomic write unit, provenance rows, garbage collection.

``Store`` (in ``store.py``) builds its public API on this class.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from braintwin.errors import NotFoundError
from braintwin.store.engine import WRITE_OPTION
from braintwin.store.models import ArtifactVolumeRow, EventRow, PatientRow, VolumeRow, utcnow
from braintwin.store.objects import OBJECTS_DIR, CanonicalVolume, object_relpath
from braintwin.store.records import to_json
from braintwin.store.staging import STAGING_DIR, Staging, objects_lock

__all__ = ["StoreBase"]

_STALE_STAGING_S = 6 * 3600  # a staging folder this old belongs to a crashed process


class StoreBase:
    """Engine, home folder and the transactional building blocks shared by the store's API."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.home = home
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

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
                candidates = {p.name.removesuffix(".nii.gz") for p in objects.glob("*/*.nii.gz")}
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

    def gc(self) -> int:
        """Remove unreferenced object files and staging folders left by crashed processes.

        Returns the number of object files removed. Safe while other processes use the store.
        """
        removed = self._collect_garbage(None)
        cutoff = time.time() - _STALE_STAGING_S
        import shutil

        for d in (self.home / STAGING_DIR).glob("*"):
            if d.is_dir() and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
        return removed
