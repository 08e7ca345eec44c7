"""Visits: upload (→ ingest job), list, delete, measurements and volumes as NIfTI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from braintwin.api import queue
from braintwin.api.context import ServiceContext
from braintwin.api.deps import Ctx, Pid, User, VisitDate, patient_access
from braintwin.api.routes_jobs import job_out
from braintwin.api.routes_patients import visit_out
from braintwin.api.schemas import JobOut, VisitOut, VolumeOut
from braintwin.api.sniff import UploadRefused
from braintwin.api.upload import receive_visit
from braintwin.errors import NotFoundError
from braintwin.store.models import VisitRow, VolumeRow
from braintwin.web.caching import cacheable_file, etag_matches, not_modified

__all__ = ["router", "volume_name", "volume_rows"]

router = APIRouter(tags=["visits"])
VolumeName = Annotated[
    str, PathParam(pattern=r"^[a-z0-9_:]{1,40}$", description="a name from the volume list")
]

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["date"],
                    "properties": {
                        "date": {"type": "string", "format": "date"},
                        "segment": {"type": "string", "enum": ["unet", "classical", "none"]},
                        "update_model": {"type": "string", "enum": ["true", "false"]},
                        **{
                            m: {"type": "string", "format": "binary"}
                            for m in ("t1", "t1ce", "t2", "flair", "seg", "dicom")
                        },
                    },
                }
            }
        },
    }
}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise HTTPException(422, "the visit date must be YYYY-MM-DD") from err


@router.get("/patients/{pid}/visits", response_model=list[VisitOut], name="list_visits")
def list_visits(pid: Pid, who: User, ctx: Ctx) -> list[VisitOut]:
    patient_access(ctx, who, pid, write=False)
    return [visit_out(ctx, pid, ctx.store.visit_record(pid, d)) for d in ctx.store.visit_dates(pid)]


@router.post(
    "/patients/{pid}/visits",
    response_model=JobOut,
    status_code=202,
    name="upload_visit",
    openapi_extra=_UPLOAD_BODY,
)
async def upload_visit(
    request: Request,
    pid: Pid,
    who: User,
    ctx: Ctx,
) -> JobOut:
    """Upload a visit (NIfTI files per modality, or one DICOM zip) as multipart/form-data.

    The body is streamed to disk and checked (size, count, zip bombs, zip-slip, content) before
    anything is queued; the answer is the ingest job to poll (``/jobs/{id}``). ``date`` is the
    real visit date; the twin stores it shifted. Nothing is stored if the upload is refused.
    """
    await run_in_threadpool(patient_access, ctx, who, pid, write=True)
    try:
        up = await receive_visit(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            ctx.store.home,
            ctx.settings,
        )
    except UploadRefused as err:
        raise HTTPException(err.status, err.message) from err
    params: dict[str, Any] = {
        "upload": up.folder.name,
        "date": up.date.isoformat(),
        "segment": up.segment,
        "update_model": up.update_model,
        "modalities": up.modalities,
        "seg": up.seg.name if up.seg else None,
    }
    try:
        job_id = await run_in_threadpool(
            queue.enqueue, ctx.db, "ingest", pid, params, who.name, ctx.settings.job_max_attempts
        )
    except BaseException:
        up.discard()
        raise
    request.state.artifact = f"job:{job_id}"
    job = await run_in_threadpool(queue.get_job, ctx.db, job_id)
    assert job is not None  # just inserted
    return job_out(job)


@router.delete("/patients/{pid}/visits/{date}", status_code=204, name="delete_visit")
def delete_visit(
    pid: Pid,
    date: VisitDate,
    who: User,
    ctx: Ctx,
) -> Response:
    """Delete a visit (its images, segmentation and measurements); the model becomes stale."""
    from braintwin.twin import Twin

    patient_access(ctx, who, pid, write=True)
    Twin(ctx.store, pid).delete_visit(_date(date))
    return Response(status_code=204)


@router.get(
    "/patients/{pid}/visits/{date}/measurements",
    response_model=dict[str, dict[str, Any]],
    name="visit_measurements",
)
def visit_measurements(
    pid: Pid,
    date: VisitDate,
    who: User,
    ctx: Ctx,
) -> dict[str, dict[str, Any]]:
    """Per-region measurements (WT, TC, ET, …: volume in mL, diameters in mm, RANO products)."""
    patient_access(ctx, who, pid, write=False)
    return dict(ctx.store.visit_record(pid, _date(date))["measurements"])


_SLOT_NAMES = {
    "image": "{}",
    "seg": "segmentation",
    "brain_mask": "brain_mask",
    "extra": "extra:{}",
}


def volume_name(row: VolumeRow) -> str:
    """A stored volume's name in the API (``t1ce``, ``segmentation``, ``extra:density``, …)."""
    return _SLOT_NAMES.get(row.slot, row.slot).format(row.role)


def volume_rows(ctx: ServiceContext, pid: str, date: dt.date) -> dict[str, VolumeRow]:
    """The visit's stored volumes by API name (NotFoundError: no visit on that date)."""
    with ctx.db.reading() as s:
        visit = s.scalar(select(VisitRow).where(VisitRow.patient_id == pid, VisitRow.date == date))
        if visit is None:
            raise NotFoundError("no visit on that date")
        rows = s.scalars(select(VolumeRow).where(VolumeRow.visit_id == visit.id)).all()
    return {volume_name(r): r for r in rows}


@router.get(
    "/patients/{pid}/visits/{date}/volumes", response_model=list[VolumeOut], name="list_volumes"
)
def list_volumes(
    pid: Pid,
    date: VisitDate,
    who: User,
    ctx: Ctx,
) -> list[VolumeOut]:
    patient_access(ctx, who, pid, write=False)
    return [
        VolumeOut(name=n, shape=r.shape, spacing_mm=r.spacing, modality=r.modality)
        for n, r in sorted(volume_rows(ctx, pid, _date(date)).items())
    ]


@router.get(
    "/patients/{pid}/visits/{date}/volumes/{name}",
    response_class=FileResponse,
    name="download_volume",
    responses={200: {"content": {"application/gzip": {}}}},
)
def download_volume(
    request: Request,
    pid: Pid,
    date: VisitDate,
    name: VolumeName,
    who: User,
    ctx: Ctx,
) -> Response:
    """One volume of the visit as NIfTI (.nii.gz) in the twin's space (the common grid the
    visit was resampled to); the file carries no identifier, its name only the pseudonym.
    The strong ETag is the stored content hash: a client holding it gets a 304."""
    patient_access(ctx, who, pid, write=False)
    row = volume_rows(ctx, pid, _date(date)).get(name)
    if row is not None and etag_matches(request, row.sha256):
        return not_modified(row.sha256)
    if row is None:
        raise HTTPException(404, "the visit has no such volume")
    path = (ctx.store.home / row.path).resolve()
    if not path.is_file() or not path.is_relative_to(ctx.store.home.resolve()):
        raise HTTPException(404, "the volume file is missing; run `braintwin store verify`")
    safe = name.replace(":", "-")
    return cacheable_file(
        request,
        Path(path),
        row.sha256,
        media_type="application/gzip",
        filename=f"{pid}_{date}_{safe}.nii.gz",
    )
