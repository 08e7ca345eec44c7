"""The job queue in the database: enqueue, claim, heartbeat, finish, and recover dead workers.

Claiming is safe with many workers on both backends: on PostgreSQL the candidate row is read
with ``SELECT … FOR UPDATE SKIP LOCKED`` (concurrent workers skip each other's rows instead of
waiting); on SQLite the claim runs in a ``BEGIN IMMEDIATE`` transaction, which admits one
writer at a time, and the status change is a conditional ``UPDATE … WHERE status='queued'``
whose row count says whether this worker won. A running job carries a lease that its worker
renews by heartbeat; :func:`recover` hands jobs whose lease ran out (the worker was killed) back
to the queue, or fails them with the reason once ``max_attempts`` is spent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, select, update

from braintwin.api.db import ServiceDB
from braintwin.store.models import utcnow
from braintwin.store.service_models import JobRow

__all__ = [
    "JOB_KINDS",
    "TERMINAL",
    "Claimed",
    "claim",
    "enqueue",
    "finish",
    "get_job",
    "heartbeat",
    "recover",
]

JOB_KINDS = ("ingest", "update", "forecast", "compare_plans", "optimise_plan")
TERMINAL = ("done", "failed")


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    patient_id: str | None
    params: dict[str, Any]
    attempts: int


def enqueue(
    db: ServiceDB,
    kind: str,
    patient_id: str | None,
    params: dict[str, Any],
    created_by: str,
    max_attempts: int,
) -> int:
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    with db.writing() as s:
        row = JobRow(
            kind=kind,
            patient_id=patient_id,
            params=params,
            status="queued",
            attempts=0,
            max_attempts=max_attempts,
            progress=0.0,
            message="queued",
            created_by=created_by,
            created_at=utcnow(),
        )
        s.add(row)
        s.flush()
        return row.id


def claim(db: ServiceDB, worker: str, lease_s: float) -> Claimed | None:
    """Take the oldest queued job for ``worker`` (or ``None`` when the queue is empty)."""
    with db.writing() as s:
        stmt = select(JobRow).where(JobRow.status == "queued").order_by(JobRow.id).limit(1)
        if db.backend == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = s.scalar(stmt)
        if row is None:
            return None
        now = utcnow()
        won: CursorResult[Any] = s.execute(  # type: ignore[assignment]
            update(JobRow)
            .where(JobRow.id == row.id, JobRow.status == "queued")
            .values(
                status="running",
                worker=worker,
                attempts=JobRow.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                lease_until=now + dt.timedelta(seconds=lease_s),
                message="started",
            )
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # pragma: no cover - excluded by the lock on both backends
            return None
        return Claimed(row.id, row.kind, row.patient_id, dict(row.params), row.attempts + 1)


def heartbeat(
    db: ServiceDB, job_id: int, worker: str, lease_s: float, progress: float, message: str
) -> bool:
    """Renew the lease and publish progress; False when the job is no longer this worker's."""
    now = utcnow()
    with db.writing() as s:
        res: CursorResult[Any] = s.execute(  # type: ignore[assignment]
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.worker == worker, JobRow.status == "running")
            .values(
                heartbeat_at=now,
                lease_until=now + dt.timedelta(seconds=lease_s),
                progress=max(0.0, min(1.0, progress)),
                message=message[:255],
            )
            .execution_options(synchronize_session=False)
        )
        return bool(res.rowcount == 1)


def finish(
    db: ServiceDB,
    job_id: int,
    worker: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Mark the job done (``result``) or failed (``error``); False if the lease was lost."""
    with db.writing() as s:
        res: CursorResult[Any] = s.execute(  # type: ignore[assignment]
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.worker == worker, JobRow.status == "running")
            .values(
                status="failed" if error is not None else "done",
                result=result,
                error=error,
                progress=1.0 if error is None else JobRow.progress,
                message="failed" if error is not None else "done",
                finished_at=utcnow(),
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(res.rowcount == 1)


def recover(db: ServiceDB) -> list[tuple[int, str, dict[str, Any]]]:
    """Requeue or fail every running job whose lease ran out; returns (id, status, params)."""
    now = utcnow()
    out: list[tuple[int, str, dict[str, Any]]] = []
    expired = select(JobRow.id).where(JobRow.status == "running", JobRow.lease_until < now)
    with db.reading() as s:  # the common case, no write transaction: nothing expired
        if s.scalar(expired.limit(1)) is None:
            return out
    with db.writing() as s:
        stmt = select(JobRow).where(JobRow.status == "running", JobRow.lease_until < now)
        if db.backend == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        for row in s.scalars(stmt).all():
            lost = f"the worker ({row.worker}) stopped while running it (killed or crashed)"
            if row.attempts < row.max_attempts:
                row.status, row.message = "queued", f"{lost}; queued again"
                row.worker, row.lease_until = None, None
            else:
                row.status, row.message = "failed", "failed"
                row.error = f"{lost}; gave up after {row.attempts} attempt(s)"
                row.finished_at, row.lease_until = now, None
            out.append((row.id, row.status, dict(row.params)))
    return out


def get_job(db: ServiceDB, job_id: int) -> JobRow | None:
    with db.reading() as s:
        return s.get(JobRow, job_id)
