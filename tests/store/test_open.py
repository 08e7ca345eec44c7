"""Opening a store: locations, URLs, Alembic migrations, SQLite settings and readers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from braintwin.errors import ConfigurationError, StoreError
from braintwin.store import Store
from braintwin.store.migrate import alembic_config, head_revision
from braintwin.store.models import Base, PatientRow

TABLES = {
    "alembic_version",
    "patients",
    "visits",
    "volumes",
    "artifacts",
    "artifact_volumes",
    "events",
    # the service (migration 0002): accounts, care teams, tokens, the job queue, the audit chain
    "users",
    "teams",
    "team_members",
    "patient_teams",
    "api_tokens",
    "jobs",
    "audit",
}


def test_fresh_database_is_migrated_to_head(store: Store) -> None:
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert set(inspect(conn).get_table_names()) == TABLES


def test_orm_metadata_matches_migrated_schema(store: Store) -> None:
    # Autogenerate against the migrated database must find nothing to change: the migration
    # scripts and the models describe the same schema (types, nullability, indexes, FKs).
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_reopening_keeps_data_and_schema(db_url: str | None, home: Path) -> None:
    with Store.open(url=db_url, home=home) as st:
        st.add_patient("BT-REOPEN")
    with Store.open(url=db_url, home=home) as st:
        assert st.has_patient("BT-REOPEN")


def test_database_newer_than_code_is_refused(db_url: str | None, home: Path) -> None:
    with Store.open(url=db_url, home=home) as st, st.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(StoreError, match="newer than this braintwin"):
        Store.open(url=db_url, home=home)


def test_downgrade_and_upgrade_again(home: Path) -> None:
    from alembic import command

    with Store.open(home=home) as st, st.engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    with Store.open(home=home) as st:
        assert st.list_patients() == []


def test_defaults_come_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRAINTWIN_DB_URL", raising=False)
    with Store.open() as st:  # the `home` fixture set $BRAINTWIN_HOME
        assert st.home == home.resolve()
        assert st.backend == "sqlite"
        assert (home / "braintwin.db").is_file()
        assert (home / "objects").is_dir()


def test_default_home_is_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRAINTWIN_HOME", raising=False)
    monkeypatch.delenv("BRAINTWIN_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with Store.open() as st:
        assert st.home == tmp_path.resolve() / "braintwin-data"


def test_bad_urls_give_clear_errors(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINTWIN_DB_URL", "mysql://u:p@localhost/db")
    with pytest.raises(ConfigurationError, match="unsupported database backend"):
        Store.open()
    with pytest.raises(ConfigurationError, match="not valid"):
        Store.open(url="::not a url::")
    # Nothing listens on port 1: a quick, clear failure that does not leak the password.
    with pytest.raises(StoreError, match="cannot open the database") as err:
        Store.open(url="postgresql+psycopg://user:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(err.value)
    assert "start-postgres" in str(err.value)


def test_sqlite_uses_wal_and_foreign_keys(home: Path) -> None:
    with Store.open(home=home) as st, st.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_open_reader_does_not_block_a_writer(db_url: str | None, home: Path, h) -> None:
    with Store.open(url=db_url, home=home) as writer, Store.open(url=db_url, home=home) as reader:
        writer.add_patient("BT-R1")
        with reader.engine.connect() as conn:
            conn.begin()
            assert conn.execute(select(PatientRow.id)).scalars().all() == ["BT-R1"]
            # With a read transaction open, another connection still commits a visit
            # (SQLite WAL; PostgreSQL MVCC) instead of waiting or failing with "locked".
            res = writer.save_visit("BT-R2", h.visit(dt.date(2020, 1, 1)), digest="c" * 64)
            assert res.created
            conn.rollback()
        assert [p.id for p in reader.list_patients()] == ["BT-R1", "BT-R2"]
