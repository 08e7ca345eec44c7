"""The growth model: forecasts (listed, downloaded), treatment plans (the regimen library,
plan comparisons and optimisations) and the jobs that update, forecast, compare or optimise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import select

from braintwin.api import queue
from braintwin.api.accounts import Principal
from braintwin.api.context import ServiceContext
from braintwin.api.deps import Ctx, Pid, RowId, User, patient_access
from braintwin.api.routes_jobs import job_out
from braintwin.api.schemas import (
    ForecastOut,
    ForecastRequest,
    JobOut,
    PlanCompareRequest,
    PlanOptimiseRequest,
    PlanResultOut,
    RegimenOut,
)
from braintwin.store.models import ArtifactRow, ArtifactVolumeRow
from braintwin.web.caching import cacheable_file

__all__ = ["forecast_volume_row", "router"]

router = APIRouter(tags=["model"])


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


def forecast_volume_row(
    ctx: ServiceContext, pid: str, forecast_id: int, name: str
) -> ArtifactVolumeRow | None:
    """The stored map ``name`` of the patient's forecast ``forecast_id`` (None: no such map)."""
    with ctx.db.reading() as s:
        return s.scalar(
            select(ArtifactVolumeRow)
            .join(ArtifactRow, ArtifactRow.id == ArtifactVolumeRow.artifact_id)
            .where(
                ArtifactRow.id == forecast_id,
                ArtifactRow.patient_id == pid,
                ArtifactRow.kind == "forecast",
                ArtifactVolumeRow.role == name,
            )
        )


@router.get(
    "/patients/{pid}/forecasts/{forecast_id}/volumes/{name}",
    response_class=FileResponse,
    name="download_forecast_volume",
    responses={200: {"content": {"application/gzip": {}}}},
)
def download_forecast_volume(
    request: Request,
    pid: Pid,
    forecast_id: RowId,
    name: Annotated[str, PathParam(pattern=r"^[a-z0-9_]{1,40}$")],
    who: User,
    ctx: Ctx,
) -> Response:
    """A forecast map (e.g. the probability of tumour presence) as NIfTI in twin space
    (strong ETag = the stored content hash; 304 when the client holds it)."""
    patient_access(ctx, who, pid, write=False)
    row = forecast_volume_row(ctx, pid, forecast_id, name)
    if row is None:
        raise HTTPException(404, "no such forecast volume")
    path = (ctx.store.home / row.path).resolve()
    if not path.is_file():
        raise HTTPException(404, "the volume file is missing; run `braintwin store verify`")
    return cacheable_file(
        request,
        Path(path),
        row.sha256,
        media_type="application/gzip",
        filename=f"{pid}_forecast{forecast_id}_{name}.nii.gz",
    )


@router.get("/plans", response_model=list[RegimenOut], name="list_regimens")
def list_regimens(who: User) -> list[RegimenOut]:
    """The regimen library (names usable in plan comparisons)."""
    from braintwin.plan.regimens import library

    del who  # any signed-in user
    return [
        RegimenOut(
            name=s.name,
            title=s.title,
            reference=s.reference,
            total_dose_gy=s.total_dose_gy,
            fractions=s.radiotherapy.n_fractions if s.radiotherapy else 0,
            temozolomide=s.temozolomide is not None,
        )
        for s in library().values()
    ]


def _check_plans(names: list[str], custom: list[dict[str, Any]]) -> None:
    """Refuse unknown names and invalid inline specs now (400), not in the worker."""
    from braintwin.errors import InputError
    from braintwin.plan.regimens import library, parse_plan_spec

    unknown = [n for n in names if n not in library()]
    if unknown:
        raise HTTPException(400, f"unknown plan {unknown[0]!r}: see GET /api/v1/plans")
    try:
        specs = [parse_plan_spec(c, "custom plan") for c in custom]
    except InputError as err:
        raise HTTPException(400, err.message) from None
    all_names = names + [s.name for s in specs]
    if not all_names:
        raise HTTPException(400, "no plans to compare: give 'plans' and/or 'custom'")
    if len(set(all_names)) != len(all_names):
        raise HTTPException(400, "plan names repeat: give each plan once")


@router.post(
    "/patients/{pid}/plans/compare", response_model=JobOut, status_code=202, name="compare_plans"
)
def compare_plans(body: PlanCompareRequest, pid: Pid, who: User, ctx: Ctx) -> JobOut:
    """Queue a plan comparison under the twin's posterior (``braintwin plans compare``)."""
    _check_plans(body.plans, body.custom)
    return _enqueue(ctx, who, pid, "compare_plans", body.model_dump())


@router.post(
    "/patients/{pid}/plans/optimise", response_model=JobOut, status_code=202, name="optimise_plan"
)
def optimise_plan(body: PlanOptimiseRequest, pid: Pid, who: User, ctx: Ctx) -> JobOut:
    """Queue a plan optimisation (``braintwin plans optimise``)."""
    _check_plans([body.reference], [])
    return _enqueue(ctx, who, pid, "optimise_plan", body.model_dump())


@router.get("/patients/{pid}/plans", response_model=list[PlanResultOut], name="list_plan_results")
def list_plan_results(pid: Pid, who: User, ctx: Ctx) -> list[PlanResultOut]:
    """Stored plan comparisons and optimisations of the patient, oldest first."""
    patient_access(ctx, who, pid, write=False)
    out = []
    for kind in ("plan_comparison", "plan_optimisation"):
        for art in ctx.store.artifacts(pid, kind, load_volumes=False):
            out.append(
                PlanResultOut(
                    id=art.id,
                    kind=kind,
                    from_visit=art.visit_date,
                    created_at=art.created_at,
                    result=art.payload,
                )
            )
    return sorted(out, key=lambda r: r.id)
