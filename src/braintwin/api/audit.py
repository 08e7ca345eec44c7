"""The audit trail: append-only, hash-chained records of every request on patient data.

Each record's ``hash`` is SHA-256 over the previous record's hash and this record's fields
(canonical JSON), so changing or removing a record breaks the chain from there on; appends are
serialised (SQLite: the write lock; PostgreSQL: an advisory transaction lock) so the chain has
no forks. The database refuses UPDATE and DELETE on the table (migration 0002); the chain also
catches changes made by someone who dropped those triggers. Removing the newest records leaves
a valid, shorter chain: compare the head (``verify`` prints it) with one kept elsewhere
(``--expect-head``) to detect that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from sqlalchemy import func, select, text

from braintwin.api.db import ServiceDB
from braintwin.store.service_models import AuditRow

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditReport",
    "append",
    "export_lines",
    "failed_logins",
    "verify",
]

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x62746175  # advisory lock key serialising appends on PostgreSQL


@dataclass(frozen=True)
class AuditEntry:
    """What one audited request did (pseudonyms only)."""

    actor: str
    role: str
    action: str
    method: str
    outcome: int
    client: str
    patient_id: str | None = None
    visit: str | None = None
    artifact: str | None = None


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    records: int
    head: str
    first_bad_id: int | None
    problem: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _utc_text(at: dt.datetime) -> str:
    if at.tzinfo is not None:  # SQLite hands back naive UTC, PostgreSQL aware
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def _digest(prev: str, at: dt.datetime, e: AuditEntry) -> str:
    body = json.dumps({"at": _utc_text(at), **asdict(e)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def append(db: ServiceDB, entry: AuditEntry) -> None:
    """Add one record at the head of the chain."""
    at = dt.datetime.now(dt.UTC)
    with db.writing() as s:
        if db.backend == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        prev = s.scalar(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)) or GENESIS
        s.add(AuditRow(at=at, prev_hash=prev, hash=_digest(prev, at, entry), **asdict(entry)))


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        actor=row.actor,
        role=row.role,
        action=row.action,
        method=row.method,
        outcome=row.outcome,
        client=row.client,
        patient_id=row.patient_id,
        visit=row.visit,
        artifact=row.artifact,
    )


def _rows(db: ServiceDB) -> Iterator[AuditRow]:
    with db.reading() as s:
        yield from s.scalars(
            select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=2000)
        )


def verify(db: ServiceDB, expect_head: str | None = None) -> AuditReport:
    """Recompute the chain; the first record whose link or hash does not match is reported."""
    prev, n = GENESIS, 0
    for row in _rows(db):
        n += 1
        if row.prev_hash != prev:
            what = "a record before it was removed or changed"
            return AuditReport(False, n, prev, row.id, f"record {row.id}: {what}")
        if _digest(prev, row.at, _entry(row)) != row.hash:
            return AuditReport(False, n, prev, row.id, f"record {row.id} was changed")
        prev = row.hash
    if expect_head is not None and expect_head != prev:
        return AuditReport(
            False, n, prev, None, "the chain's head differs from the expected one (truncated?)"
        )
    return AuditReport(True, n, prev, None, None)


def export_lines(db: ServiceDB) -> Iterator[str]:
    """Every record as one JSON line (oldest first), with its hashes."""
    for row in _rows(db):
        rec = {"id": row.id, "at": _utc_text(row.at) + "Z", **asdict(_entry(row))}
        rec.update(prev_hash=row.prev_hash, hash=row.hash)
        yield json.dumps(rec, sort_keys=True)


def failed_logins(db: ServiceDB, *, actor: str | None, client: str | None, since_s: int) -> int:
    """Failed logins (by account name or client address) within the last ``since_s`` seconds."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=since_s)
    stmt = select(func.count(AuditRow.id)).where(
        AuditRow.action == "login", AuditRow.outcome == 401, AuditRow.at >= since
    )
    if actor is not None:
        stmt = stmt.where(AuditRow.actor == actor)
    if client is not None:
        stmt = stmt.where(AuditRow.client == client)
    with db.reading() as s:
        return int(s.scalar(stmt) or 0)
