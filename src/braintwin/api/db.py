"""Sessions on the store's database for the service's own tables."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from braintwin.store.engine import WRITE_OPTION

__all__ = ["ServiceDB"]


class ServiceDB:
    """Read sessions and write transactions (SQLite: ``BEGIN IMMEDIATE``, so writers queue)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite admits one writer; its busy handler sleeps with back-off (up to 100 ms) while
        # waiting, so this process's threads queue on a mutex first (another process's
        # writer is still waited for by the busy handler).
        self._one_writer = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read() as s:
            yield s

    @contextlib.contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction, committed on success and rolled back on any exception."""
        guard = self._one_writer or contextlib.nullcontext()
        with guard, self._write() as s, s.begin():
            yield s
