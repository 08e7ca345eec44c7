"""The audit trail: what is recorded, append-only in the database, tampering detected."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from braintwin.api import audit

from .conftest import CLI, IDENTIFIERS, Service


def _cli(svc: Service, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, "audit", *args],
        env=svc.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _records(svc: Service) -> list[dict[str, object]]:
    return [json.loads(line) for line in audit.export_lines(svc.db())]


def test_reads_writes_and_denials_are_recorded(service: Service) -> None:
    pid, date = service.patients["team-a"], service.visit["team-a"]
    with service.client("res-a") as c:
        assert c.get(f"/patients/{pid}/visits/{date}/measurements").status_code == 200
        assert c.get(f"/patients/{service.patients['team-b']}").status_code == 403
    with service.client("clin-a") as c:
        c.post("/patients/lookup", json={"identifier": IDENTIFIERS["team-a"]})
    service.login("clin-a", "wrong password, twice as long")
    recs = _records(service)
    read = next(r for r in recs if r["action"] == "visit_measurements")
    assert read["actor"] == "res-a" and read["role"] == "researcher"
    assert (read["patient_id"], read["visit"], read["outcome"]) == (pid, date, 200)
    assert read["client"] == "127.0.0.1" and read["method"] == "GET"
    denied = next(r for r in recs if r["outcome"] == 403 and r["actor"] == "res-a")
    assert denied["patient_id"] == service.patients["team-b"]
    link = next(r for r in recs if r["action"] == "lookup_patient")
    assert link["patient_id"] == pid and link["outcome"] == 200
    assert any(r["action"] == "login" and r["outcome"] == 401 for r in recs)
    exported = _cli(service, "export")
    assert exported.returncode == 0
    lines = [json.loads(x) for x in exported.stdout.splitlines()]
    assert len(lines) == len(recs) and all({"hash", "prev_hash", "at"} <= set(x) for x in lines)
    for identifier in IDENTIFIERS.values():  # pseudonyms only
        assert identifier not in exported.stdout


def test_the_database_refuses_changes(service: Service) -> None:
    engine = service.db().engine
    for sql in ("UPDATE audit SET outcome = 200", "DELETE FROM audit WHERE id = 1"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))


def _sql(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def test_verify_detects_changed_and_removed_records(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()  # its own: the chain is broken on purpose
    with service.client("admin") as c:
        for _ in range(4):
            c.get("/patients")
    ok = _cli(service, "verify")
    assert ok.returncode == 0, ok.stderr
    head = json.loads(ok.stdout.strip().splitlines()[-1])["head"]
    engine = service.db().engine
    # an attacker with database access switches the append-only triggers off
    if engine.dialect.name == "postgresql":
        _sql(engine, "ALTER TABLE audit DISABLE TRIGGER audit_append_only")
    else:
        _sql(engine, "DROP TRIGGER audit_no_update")
        _sql(engine, "DROP TRIGGER audit_no_delete")
    with engine.connect() as conn:
        original = conn.execute(text("SELECT outcome FROM audit WHERE id = 3")).scalar_one()
    _sql(engine, "UPDATE audit SET outcome = 299 WHERE id = 3")
    changed = _cli(service, "verify")
    assert changed.returncode == 2 and "record 3 was changed" in changed.stderr
    assert json.loads(changed.stdout.strip().splitlines()[-1])["first_bad_id"] == 3
    # undo the change; then remove a record in the middle instead
    _sql(engine, "UPDATE audit SET outcome = :o WHERE id = 3", o=original)
    assert _cli(service, "verify").returncode == 0
    _sql(engine, "DELETE FROM audit WHERE id = 5")
    removed = _cli(service, "verify")
    assert removed.returncode == 2 and "record 6: a record before it was removed" in removed.stderr
    # the head kept from before: the broken chain's head differs (truncation: test_db.py)
    assert json.loads(removed.stdout.strip().splitlines()[-1])["head"] != head
