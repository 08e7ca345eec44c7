"""Alembic migrations, run programmatically when a store is opened.

The migration scripts ship inside the package (``braintwin/store/migrations``), so an installed
braintwin can create or upgrade any store without an ``alembic.ini``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from braintwin.errors import StoreError
from braintwin.store.engine import WRITE_OPTION

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant: the PostgreSQL advisory lock serialising concurrent first opens.
_PG_LOCK_KEY = 0x62727477


def alembic_config() -> Config:
    """An Alembic ``Config`` pointing at the packaged migration scripts."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - packaging error
        raise StoreError("braintwin's database migrations are missing from the installation")
    return head


def current_revision(conn: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the database schema to the newest revision; returns the revision now in place."""
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    with engine.connect() as conn:  # the common case, read-only: already at head
        if current_revision(conn) == head:
            return str(head)
    # A write transaction from the start (SQLite: BEGIN IMMEDIATE), so a concurrent writer
    # makes this wait (busy timeout) instead of failing when the read would turn into a write.
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes opening a fresh database at once must not both create tables.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        current = current_revision(conn)
        if current == head:
            return str(head)
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise StoreError(
                f"the database schema (revision {current}) is newer than this braintwin",
                "upgrade braintwin, or point BRAINTWIN_HOME / BRAINTWIN_DB_URL elsewhere",
            )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return str(head)
