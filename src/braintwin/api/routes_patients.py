"""Patients: list, create, look up by identifier, details; cohort summary."""

from __future__ import annotations

import statistics

from fastapi import APIRouter, HTTPException, Request

from braintwin.api import accounts
from braintwin.api.context import ServiceContext
from braintwin.api.deps import PSEUDONYM, Ctx, Pid, User, patient_access
from braintwin.api.schemas import (
    CohortSummary,
    PatientCreate,
    PatientCreated,
    PatientDetail,
    PatientLookup,
    PatientOut,
    VisitOut,
)

__all__ = ["router", "visit_out"]

router = APIRouter(tags=["patients"])


def _pseudonym(ctx: ServiceContext, identifier: str) -> str:
    from braintwin.deid import load_or_create_secret, pseudonym

    identifier = identifier.strip()
    if not identifier or PSEUDONYM.match(identifier):
        raise HTTPException(422, "give the hospital identifier (not empty, not a pseudonym)")
    return pseudonym(identifier, load_or_create_secret(ctx.store.home))


@router.get("/patients", response_model=list[PatientOut], name="list_patients")
def list_patients(who: User, ctx: Ctx) -> list[PatientOut]:
    """The patients you may see (pseudonyms and shifted visit dates only)."""
    teams = accounts.visible_patients(ctx.db, who) or {}
    return [
        PatientOut(
            id=p.id,
            n_visits=p.n_visits,
            first_visit=p.first_date,
            last_visit=p.last_date,
            teams=sorted(teams.get(p.id, [])),
        )
        for p in ctx.store.list_patients()
        if who.is_admin or p.id in teams
    ]


@router.post("/patients", response_model=PatientCreated, status_code=201, name="create_patient")
def create_patient(
    body: PatientCreate,
    request: Request,
    who: User,
    ctx: Ctx,
) -> PatientCreated:
    """Register a patient in one of your teams. The identifier is turned into the pseudonym
    (keyed hash) and is neither stored nor logged; the pseudonym names the patient from now on."""
    if not who.can_write:
        raise HTTPException(403, "researchers cannot create patients")
    team = accounts.team_id(ctx.db, body.team)
    if team is None and who.is_admin:
        raise HTTPException(404, "no such team (create it first)")
    if team is None or (not who.is_admin and team not in who.teams):
        raise HTTPException(403, "you can only add patients to your own teams")
    pid = _pseudonym(ctx, body.identifier)
    request.state.patient = pid
    created = ctx.store.add_patient(pid)
    if not created and not who.is_admin and not (accounts.patient_teams(ctx.db, pid) & who.teams):
        # the patient exists in another team: joining it needs an admin
        raise HTTPException(403, "this patient is registered by another team; ask an admin")
    accounts.assign_patient(ctx.db, pid, body.team)
    names = accounts.visible_patients(ctx.db, who) or {}
    return PatientCreated(id=pid, created=created, teams=sorted(names.get(pid, [body.team])))


@router.post("/patients/lookup", response_model=PatientCreated, name="lookup_patient")
def lookup_patient(
    body: PatientLookup,
    request: Request,
    who: User,
    ctx: Ctx,
) -> PatientCreated:
    """The pseudonym of a hospital identifier (the link): admins, and clinicians for the
    patients of their teams. Researchers never get it."""
    if not who.can_write:
        raise HTTPException(403, "researchers may not link identifiers to pseudonyms")
    pid = _pseudonym(ctx, body.identifier)
    request.state.patient = pid
    patient_access(ctx, who, pid, write=False)
    names = accounts.visible_patients(ctx.db, who) or {}
    return PatientCreated(id=pid, created=False, teams=sorted(names.get(pid, [])))


def visit_out(ctx: ServiceContext, pid: str, rec: dict[str, object]) -> VisitOut:
    meta = rec["meta"] if isinstance(rec["meta"], dict) else {}
    seg = meta.get("segmentation")
    cls = rec.get("classification")
    vols = [str(v) for v in rec["volumes"]]  # type: ignore[attr-defined]
    return VisitOut(
        date=rec["date"],  # type: ignore[arg-type]
        modalities=[v for v in vols if v in ("t1", "t1ce", "t2", "flair")],
        volumes=vols,
        segmentation=seg.get("method") if isinstance(seg, dict) else None,
        synthetic=bool(meta.get("synthetic")),
        tumour_type=cls.get("label") if isinstance(cls, dict) else None,
    )


@router.get("/patients/{pid}", response_model=PatientDetail, name="get_patient")
def get_patient(pid: Pid, who: User, ctx: Ctx) -> PatientDetail:
    from braintwin.twin import Twin

    patient_access(ctx, who, pid, write=False)
    twin = Twin(ctx.store, pid)
    summary = twin.summary()
    visits = [visit_out(ctx, pid, ctx.store.visit_record(pid, d)) for d in twin.visit_dates()]
    names = accounts.visible_patients(ctx.db, who) or {}
    return PatientDetail(
        id=pid,
        teams=sorted(names.get(pid, [])),
        visits=visits,
        model_stale=bool(summary["model"]["stale"]),
        model_stale_reason=summary["model"]["stale_reason"],
        posteriors=len(summary["model"]["posteriors"]),
        forecasts=int(summary["model"]["forecasts"]),
    )


@router.get("/cohort/summary", response_model=CohortSummary, name="cohort_summary")
def cohort_summary(who: User, ctx: Ctx) -> CohortSummary:
    """Aggregates over the patients you may see: counts, whole-tumour volume at the latest
    segmented visit (median and quartiles), tumour types. No patient-level rows."""
    teams = accounts.visible_patients(ctx.db, who) or {}
    patients = [p for p in ctx.store.list_patients() if who.is_admin or p.id in teams]
    visits = segmented = 0
    volumes: list[float] = []
    types: dict[str, int] = {}
    for p in patients:
        latest: float | None = None
        for d in ctx.store.visit_dates(p.id):
            rec = ctx.store.visit_record(p.id, d)
            visits += 1
            wt = rec["measurements"].get("WT")
            if isinstance(wt, dict) and wt.get("volume_ml") is not None:
                segmented += 1
                latest = float(wt["volume_ml"])
            cls = rec.get("classification")
            if isinstance(cls, dict) and cls.get("label"):
                types[str(cls["label"])] = types.get(str(cls["label"]), 0) + 1
        if latest is not None:
            volumes.append(latest)
    stats: dict[str, float | None] = {
        "n": float(len(volumes)),
        "median": None,
        "q1": None,
        "q3": None,
    }
    if volumes:
        stats["median"] = statistics.median(volumes)
        if len(volumes) >= 2:
            q = statistics.quantiles(volumes, n=4)
            stats["q1"], stats["q3"] = q[0], q[2]
    return CohortSummary(
        patients=len(patients),
        visits=visits,
        segmented_visits=segmented,
        wt_volume_ml=stats,
        tumour_types=types,
    )
