"""JSON and image renditions the web viewer needs beyond the plain API.

- ``GET /viewer/patients``: the patient list with model freshness and the last change.
- ``GET /patients/{pid}/viewer``: the patient page's data (:mod:`braintwin.web.pagedata`).
- ``GET /patients/{pid}/visits/{date}/display/{name}`` and
  ``GET /patients/{pid}/forecasts/{id}/display/{name}``: display renditions of volumes
  (:mod:`braintwin.web.display`), gzip-encoded, cached by the browser under a strong ETag
  derived from the stored content hash (304 on ``If-None-Match``).

Authorisation is the API's: the same per-patient check as every patient route.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParam
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from braintwin.api import accounts
from braintwin.api.context import ServiceContext
from braintwin.api.deps import Ctx, Pid, RowId, User, VisitDate, patient_access
from braintwin.api.routes_model import forecast_volume_row
from braintwin.api.routes_visits import volume_name, volume_rows
from braintwin.store.models import ArtifactRow, ArtifactVolumeRow, EventRow, VisitRow, VolumeRow
from braintwin.store.objects import RENDITIONS_DIR
from braintwin.web.caching import cacheable_file, etag_matches, not_modified
from braintwin.web.display import RENDITION_VERSION, display_rendition, warm_renditions

__all__ = ["router"]

router = APIRouter(tags=["viewer"])
VolumeName = Annotated[str, PathParam(pattern=r"^[a-z0-9_:]{1,40}$")]
_FIRST_SHOWN = ("t1ce", "segmentation")  # what the patient page shows first
_WARM_PATIENTS = 20


def _cache_dir(ctx: ServiceContext) -> Path:
    return ctx.store.home / RENDITIONS_DIR


def _warm(ctx: ServiceContext, pids: list[str], names: tuple[str, ...] | None) -> None:
    """Build, in the background, the renditions of each patient's latest visit (``names``
    only, or all), so opening the page does not wait for them."""
    latest = (
        select(VisitRow.patient_id, func.max(VisitRow.date).label("date"))
        .where(VisitRow.patient_id.in_(pids))
        .group_by(VisitRow.patient_id)
        .subquery()
    )
    with ctx.db.reading() as s:
        rows = s.scalars(
            select(VolumeRow)
            .join(VisitRow, VisitRow.id == VolumeRow.visit_id)
            .join(
                latest,
                (latest.c.patient_id == VisitRow.patient_id) & (latest.c.date == VisitRow.date),
            )
        ).all()
    wanted = [r for r in rows if names is None or volume_name(r) in names]
    warm_renditions(((ctx.store.home / r.path, r.sha256) for r in wanted), _cache_dir(ctx))


def _model_state(ctx: ServiceContext, pid: str) -> dict[str, Any]:
    from braintwin.twin import Twin

    status = Twin(ctx.store, pid).model_status()
    return {"stale": bool(status.stale), "reason": status.reason}


@router.get("/viewer/patients", name="viewer_patients")
def viewer_patients(who: User, ctx: Ctx) -> list[dict[str, Any]]:
    """The patients you may see, with model freshness and the time of the last change."""
    teams = accounts.visible_patients(ctx.db, who) or {}
    patients = [p for p in ctx.store.list_patients() if who.is_admin or p.id in teams]
    with ctx.db.reading() as s:
        last = dict(
            s.execute(
                select(EventRow.patient_id, func.max(EventRow.created_at)).group_by(
                    EventRow.patient_id
                )
            ).all()
        )
    _warm(ctx, [p.id for p in patients if p.n_visits][:_WARM_PATIENTS], _FIRST_SHOWN)
    out = []
    for p in patients:
        model = _model_state(ctx, p.id) if p.n_visits else {"stale": False, "reason": None}
        changed = last.get(p.id) or p.created_at
        if changed is not None and changed.tzinfo is None:  # SQLite drops the offset: UTC
            changed = changed.replace(tzinfo=dt.UTC)
        out.append(
            {
                "id": p.id,
                "n_visits": p.n_visits,
                "first_visit": p.first_date.isoformat() if p.first_date else None,
                "last_visit": p.last_date.isoformat() if p.last_date else None,
                "last_change": changed.isoformat() if changed else None,
                "model": "needs update" if model["stale"] else ("current" if p.n_visits else "–"),
                "model_reason": model["reason"],
                "teams": sorted(teams.get(p.id, [])),
            }
        )
    return out


def _volume_names(ctx: ServiceContext, pid: str) -> dict[str, list[str]]:
    with ctx.db.reading() as s:
        rows = s.execute(
            select(VisitRow.date, VolumeRow)
            .join(VolumeRow, VolumeRow.visit_id == VisitRow.id)
            .where(VisitRow.patient_id == pid)
        ).all()
    out: dict[str, list[str]] = {}
    for date, row in rows:
        out.setdefault(str(date), []).append(volume_name(row))
    return {d: sorted(v) for d, v in out.items()}


def _forecast_volumes(ctx: ServiceContext, pid: str) -> dict[int, list[str]]:
    with ctx.db.reading() as s:
        rows = s.execute(
            select(ArtifactVolumeRow.artifact_id, ArtifactVolumeRow.role)
            .join(ArtifactRow, ArtifactRow.id == ArtifactVolumeRow.artifact_id)
            .where(ArtifactRow.patient_id == pid, ArtifactRow.kind == "forecast")
        ).all()
    out: dict[int, list[str]] = {}
    for art, role in rows:
        out.setdefault(int(art), []).append(str(role))
    return out


@router.get("/patients/{pid}/viewer", name="viewer_patient")
def viewer_patient(pid: Pid, who: User, ctx: Ctx) -> dict[str, Any]:
    """The patient page's data: visits, measurements, RANO, forecasts, posterior, plans."""
    from braintwin.web.pagedata import page_data

    patient_access(ctx, who, pid, write=False)
    _warm(ctx, [pid], None)  # the other modalities, before the user switches to them
    return page_data(
        ctx.store,
        pid,
        _volume_names(ctx, pid),
        _forecast_volumes(ctx, pid),
        _model_state(ctx, pid),
    )


async def _rendition(
    request: Request, ctx: ServiceContext, path: str, sha: str, filename: str
) -> Response:
    tag = f"{sha}.{RENDITION_VERSION}"
    if etag_matches(request, tag):
        return not_modified(tag)
    src = (ctx.store.home / path).resolve()
    if not src.is_file() or not src.is_relative_to(ctx.store.home.resolve()):
        raise HTTPException(404, "the volume file is missing; run `braintwin store verify`")
    out = await run_in_threadpool(display_rendition, src, sha, _cache_dir(ctx))
    gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
    return cacheable_file(
        request,
        Path(out),
        tag,
        media_type="application/octet-stream" if gzip_ok else "application/gzip",
        filename=filename if gzip_ok else f"{filename}.gz",
        content_encoding="gzip" if gzip_ok else None,
    )


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise HTTPException(422, "the visit date must be YYYY-MM-DD") from err


@router.get("/patients/{pid}/visits/{date}/display/{name}", name="display_volume")
async def display_volume(
    request: Request, pid: Pid, date: VisitDate, name: VolumeName, who: User, ctx: Ctx
) -> Response:
    """A visit volume as the viewer shows it: raw NIfTI (int16 with scl_slope, or uint8
    labels), gzip content-encoding, strong ETag = the stored content hash."""
    await run_in_threadpool(patient_access, ctx, who, pid, write=False)
    day = _day(date)

    found = (await run_in_threadpool(volume_rows, ctx, pid, day)).get(name)
    if found is None:
        raise HTTPException(404, "the visit has no such volume")
    safe = name.replace(":", "-")
    return await _rendition(request, ctx, found.path, found.sha256, f"{pid}_{date}_{safe}.nii")


@router.get("/patients/{pid}/forecasts/{forecast_id}/display/{name}", name="display_forecast")
async def display_forecast(
    request: Request, pid: Pid, forecast_id: RowId, name: VolumeName, who: User, ctx: Ctx
) -> Response:
    """A forecast map (probability, mask) as a display rendition (see ``display_volume``)."""
    await run_in_threadpool(patient_access, ctx, who, pid, write=False)

    found = await run_in_threadpool(forecast_volume_row, ctx, pid, forecast_id, name)
    if found is None:
        raise HTTPException(404, "no such forecast volume")
    fname = f"{pid}_forecast{forecast_id}_{name}.nii"
    return await _rendition(request, ctx, found.path, found.sha256, fname)
