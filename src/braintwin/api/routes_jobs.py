"""Jobs: status polling and server-sent events of progress."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from braintwin.api import accounts, queue
from braintwin.api.accounts import Principal
from braintwin.api.context import ServiceContext
from braintwin.api.deps import Ctx, RowId, User, patient_access
from braintwin.api.schemas import JobOut
from braintwin.api.worker import recover_jobs
from braintwin.store.records import as_utc
from braintwin.store.service_models import JobRow

__all__ = ["job_out", "router"]

router = APIRouter(tags=["jobs"])


def job_out(row: JobRow) -> JobOut:
    return JobOut(
        id=row.id,
        kind=row.kind,
        patient_id=row.patient_id,
        status=row.status,  # type: ignore[arg-type]
        progress=row.progress,
        message=row.message,
        attempts=row.attempts,
        result=row.result,
        error=row.error,
        created_at=as_utc(row.created_at),
        finished_at=None if row.finished_at is None else as_utc(row.finished_at),
    )


def _visible_job(ctx: ServiceContext, who: Principal, job_id: int) -> JobRow:
    row = queue.get_job(ctx.db, job_id)
    if row is None:
        if who.is_admin:
            raise HTTPException(404, "no such job")
        raise HTTPException(403, "not a job of one of your patients")
    if row.patient_id is None:
        if not who.is_admin:
            raise HTTPException(403, "not a job of one of your patients")
    else:
        try:
            patient_access(ctx, who, row.patient_id, write=False)
        except HTTPException as err:  # a deleted patient's job: admins still see it
            if not (who.is_admin and err.status_code == 404):
                raise
    return row


@router.get("/jobs/{job_id}", response_model=JobOut, name="get_job")
def get_job(
    job_id: RowId,
    who: User,
    ctx: Ctx,
) -> JobOut:
    recover_jobs(ctx.db, ctx.store.home)  # a dead worker's job shows without waiting
    return job_out(_visible_job(ctx, who, job_id))


@router.get("/jobs", response_model=list[JobOut], name="list_jobs")
def list_jobs(who: User, ctx: Ctx) -> list[JobOut]:
    """The newest 200 jobs of the patients you may see."""
    stmt = select(JobRow).order_by(JobRow.id.desc()).limit(200)
    if not who.is_admin:
        visible = list(accounts.visible_patients(ctx.db, who) or {})
        stmt = stmt.where(JobRow.patient_id.in_(visible))
    with ctx.db.reading() as s:
        return [job_out(r) for r in s.scalars(stmt)]


@router.get(
    "/jobs/{job_id}/events",
    name="job_events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(
    job_id: RowId,
    who: User,
    ctx: Ctx,
) -> StreamingResponse:
    """Server-sent events: one ``progress`` event per change, then ``done`` or ``failed``."""
    await run_in_threadpool(_visible_job, ctx, who, job_id)

    async def events() -> AsyncIterator[str]:
        last, start = "", time.monotonic()
        while time.monotonic() - start < ctx.settings.sse_max_s:
            await run_in_threadpool(recover_jobs, ctx.db, ctx.store.home)
            row = await run_in_threadpool(queue.get_job, ctx.db, job_id)
            if row is None:
                return
            data = job_out(row).model_dump_json()
            if data != last:
                kind = row.status if row.status in queue.TERMINAL else "progress"
                yield f"event: {kind}\ndata: {data}\n\n"
                last = data
            if row.status in queue.TERMINAL:
                return
            await asyncio.sleep(0.5)
        yield f"event: timeout\ndata: {json.dumps({'id': job_id})}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
