"""Where the store lives and how it connects: home folder, database URL, engine settings.

``home`` is ``$BRAINTWIN_HOME`` or ``./braintwin-data``; the database is the SQLite file
``home/braintwin.db`` unless a URL is given (argument or ``$BRAINTWIN_DB_URL``), e.g.
``postgresql+psycopg://user:pass@127.0.0.1:5432/braintwin``. Volume files always live in home.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from braintwin.errors import ConfigurationError

__all__ = ["WRITE_OPTION", "create_store_engine", "default_home", "resolve_url", "safe_url"]

# Execution option marking a write transaction: on SQLite it starts with BEGIN IMMEDIATE so
# concurrent writers queue on the database lock instead of failing halfway.
WRITE_OPTION = "braintwin_write"
_SQLITE_BUSY_TIMEOUT_S = 30.0


def default_home() -> Path:
    """``$BRAINTWIN_HOME`` or ``./braintwin-data`` (not created here)."""
    return Path(os.environ.get("BRAINTWIN_HOME") or "braintwin-data").expanduser().resolve()


def resolve_url(url: str | None, home: Path) -> str:
    """The database URL: ``url``, else ``$BRAINTWIN_DB_URL``, else SQLite in ``home``."""
    chosen = url or os.environ.get("BRAINTWIN_DB_URL")
    if not chosen:
        return f"sqlite:///{home / 'braintwin.db'}"
    try:
        backend = make_url(chosen).get_backend_name()
    except Exception as err:
        raise ConfigurationError(
            "the database URL is not valid",
            "use e.g. postgresql+psycopg://user:password@127.0.0.1:5432/braintwin",
        ) from err
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported database backend {backend!r}", "use SQLite or PostgreSQL"
        )
    return chosen


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def create_store_engine(url: str) -> Engine:
    """An engine configured for the store (SQLite: WAL, foreign keys, real transactions)."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would open transactions
        # lazily and commit DDL implicitly) so SQLAlchemy's BEGIN/COMMIT are the real ones.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        # WAL: readers never block the writer and see the last committed state. The mode is
        # stored in the file: switch only when needed (the switch takes an exclusive lock).
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
