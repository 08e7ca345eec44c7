"""The growth model: forecasts (listed, downloaded) and jobs that update or forecast.

Plans and plan comparisons (``braintwin.plan``, ``Twin.compare_plans``) are not exposed yet:
:data:`PLAN_ROUTES_HOOK` names where their routes belong once that API is settled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import select

from braintwin.api import queue
from braintwin.api.accounts import Principal
from braintwin.api.context import ServiceContext
from braintwin.api.deps import Ctx, Pid, RowId, User, patient_access
from braintwin.api.routes_jobs import job_out
from braintwin.api.schemas import ForecastOut, ForecastRequest, JobOut
from braintwin.store.models import ArtifactRow, ArtifactVolumeRow

__all__ = ["PLAN_ROUTES_HOOK", "router"]

router = APIRouter(tags=["model"])
#: Where plan routes go: ``POST /patients/{pid}/plans/compare`` → a "plan" job in
#: :mod:`braintwin.api.worker` calling ``Twin.compare_plans`` (not built yet).
PLAN_ROUTES_HOOK = "braintwin.api.routes_model"


def _enqueue(
    ctx: ServiceContext, who: Principal, pid: str, kind: str, params: dict[str, Any]
) -> JobOut:
    patient_access(ctx, who, pid, write=True)
    job_id = queue.enqueue(ctx.db, kind, pid, params, who.name, ctx.settings.job_max_attempts)
    row = queue.get_job(ctx.db, job_id)
    assert row is not None
    return job_out(row)


@router.post("/patients/{pid}/update", response_model=JobOut, status_code=202, name="update_model")
def update_model(pid: Pid, who: User, ctx: Ctx) -> JobOut:
    """Queue a model update: calibrate on every segmented visit and forecast (a job)."""
    return _enqueue(ctx, who, pid, "update", {})


@router.post(
    "/patients/{pid}/forecasts", response_model=JobOut, status_code=202, name="request_forecast"
)
def request_forecast(
    body: ForecastRequest,
    pid: Pid,
    who: User,
    ctx: Ctx,
) -> JobOut:
    """Queue a forecast ``days`` after the latest visit (calibrating first if needed)."""
    return _enqueue(ctx, who, pid, "forecast", {"days": body.days})


@router.get("/patients/{pid}/forecasts", response_model=list[ForecastOut], name="list_forecasts")
def list_forecasts(pid: Pid, who: User, ctx: Ctx) -> list[ForecastOut]:
    patient_access(ctx, who, pid, write=False)
    out = []
    for art in ctx.store.artifacts(pid, "forecast", load_volumes=False):
        p = art.payload
        plan = p.get("plan")
        with ctx.db.reading() as s:
            names = s.scalars(
                select(ArtifactVolumeRow.role).where(ArtifactVolumeRow.artifact_id == art.id)
            ).all()
        out.append(
            ForecastOut(
                id=art.id,
                from_visit=art.visit_date,
                created_at=art.created_at,
                target_date=str(p.get("date") or p.get("target_date") or "") or None,
                plan=plan.get("name") if isinstance(plan, dict) else None,
                volumes=sorted(names),
                summary={k: v for k, v in p.items() if isinstance(v, int | float | str)},
            )
        )
    return out


@router.get(
    "/patients/{pid}/forecasts/{forecast_id}/volumes/{name}",
    response_class=FileResponse,
    name="download_forecast_volume",
    responses={200: {"content": {"application/gzip": {}}}},
)
def download_forecast_volume(
    pid: Pid,
    forecast_id: RowId,
    name: Annotated[str, PathParam(pattern=r"^[a-z0-9_]{1,40}$")],
    who: User,
    ctx: Ctx,
) -> FileResponse:
    """A forecast map (e.g. the probability of tumour presence) as NIfTI in twin space."""
    patient_access(ctx, who, pid, write=False)
    with ctx.db.reading() as s:
        row = s.scalar(
            select(ArtifactVolumeRow)
            .join(ArtifactRow, ArtifactRow.id == ArtifactVolumeRow.artifact_id)
            .where(
                ArtifactRow.id == forecast_id,
                ArtifactRow.patient_id == pid,
                ArtifactRow.kind == "forecast",
                ArtifactVolumeRow.role == name,
            )
        )
    if row is None:
        raise HTTPException(404, "no such forecast volume")
    path = (ctx.store.home / row.path).resolve()
    if not path.is_file():
        raise HTTPException(404, "the volume file is missing; run `braintwin store verify`")
    return FileResponse(
        Path(path),
        media_type="application/gzip",
        filename=f"{pid}_forecast{forecast_id}_{name}.nii.gz",
    )
