"""Inter-process locks of a store: file locks in its home and the per-patient write lock.

``file_lock`` is an exclusive ``fcntl.flock`` on a file (a no-op where fcntl is missing); the
lock goes with the open file, so a killed process never leaves a lock held. ``PatientLock``
serialises "read the twin's state → compute → write" for one patient across processes and
threads: a PostgreSQL session advisory lock (so processes on other machines sharing the
database are covered), or on SQLite a file lock ``home/locks/<pseudonym>.lock``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from braintwin.atomic import PRIVATE_DIR, PRIVATE_FILE
from braintwin.errors import StoreError

__all__ = ["LOCKS_DIR", "PatientLock", "file_lock", "try_file_lock"]

LOCKS_DIR = "locks"
_POLL_S = (0.02, 0.5)  # first and longest wait between tries of a lock with a timeout


def _flock(fd: int, blocking: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: no inter-process locking
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)


@contextlib.contextmanager
def file_lock(path: Path, *, timeout_s: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600) for the block.

    Raises ``StoreError`` when ``timeout_s`` passes first (``None``: wait as long as needed).
    """
    fd = _open_lock_file(path)
    try:
        if timeout_s is None:
            _flock(fd, blocking=True)
        else:
            _poll(lambda: _flock(fd, blocking=False), timeout_s)
        yield  # closing the descriptor releases the lock
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_file_lock(path: Path) -> Iterator[bool]:
    """Try once to lock ``path``; yields whether the lock is held (it is released after)."""
    fd = _open_lock_file(path)
    try:
        yield _flock(fd, blocking=False)
    finally:
        os.close(fd)


def _poll(attempt: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    wait = _POLL_S[0]
    while not attempt():  # type: ignore[operator]
        if time.monotonic() >= deadline:
            raise StoreError(
                "another braintwin process is updating this patient",
                "wait for it to finish and try again",
            )
        time.sleep(wait)
        wait = min(wait * 2, _POLL_S[1])


def _advisory_key(patient_id: str) -> int:
    digest = hashlib.sha256(b"braintwin-patient\x00" + patient_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)  # PostgreSQL bigint


class PatientLock:
    """The per-patient locks of one store (re-entrant within a thread)."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.home = home
        self._local = threading.local()

    def _held(self) -> dict[str, int]:
        if not hasattr(self._local, "held"):
            self._local.held = {}
        held: dict[str, int] = self._local.held
        return held

    @contextlib.contextmanager
    def hold(self, patient_id: str, *, timeout_s: float | None = None) -> Iterator[None]:
        held = self._held()
        if held.get(patient_id):
            held[patient_id] += 1  # already ours in this thread: nesting must not deadlock
            try:
                yield
            finally:
                held[patient_id] -= 1
            return
        acquire = self._pg if self.engine.dialect.name == "postgresql" else self._file
        with acquire(patient_id, timeout_s):
            held[patient_id] = 1
            try:
                yield
            finally:
                held.pop(patient_id, None)

    @contextlib.contextmanager
    def _file(self, patient_id: str, timeout_s: float | None) -> Iterator[None]:
        folder = self.home / LOCKS_DIR
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        with file_lock(folder / f"{patient_id}.lock", timeout_s=timeout_s):
            yield

    @contextlib.contextmanager
    def _pg(self, patient_id: str, timeout_s: float | None) -> Iterator[None]:
        key = _advisory_key(patient_id)
        # A session-level advisory lock lives as long as this connection holds it; a killed
        # process's connection is closed by the server, which releases the lock.
        with self.engine.connect() as conn:
            if timeout_s is None:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            else:
                _poll(
                    lambda: bool(
                        conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                    ),
                    timeout_s,
                )
            conn.commit()  # end the implicit transaction; the session lock stays
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
