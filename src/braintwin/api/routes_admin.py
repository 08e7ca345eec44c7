"""Administration: accounts, teams, patient-team assignment, the audit trail (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import StreamingResponse

from braintwin.api import accounts, audit
from braintwin.api.deps import Admin, Ctx, Pid
from braintwin.api.schemas import AuditVerifyOut, TeamAssign, TeamCreate, UserCreate, UserOut

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/users", response_model=list[UserOut], name="list_users")
def list_users(_: Admin, ctx: Ctx) -> list[UserOut]:
    return [
        UserOut(name=n, role=r, active=a, teams=t) for n, r, a, t in accounts.list_users(ctx.db)
    ]


@router.post("/users", response_model=UserOut, status_code=201, name="create_user")
def create_user(body: UserCreate, _: Admin, ctx: Ctx) -> UserOut:
    accounts.add_user(ctx.db, body.name, body.role, body.password, body.teams)
    return UserOut(name=body.name, role=body.role, active=True, teams=sorted(body.teams))


@router.post("/users/{name}/disable", status_code=204, name="disable_user")
def disable_user(name: str, who: Admin, ctx: Ctx) -> Response:
    if name == who.name:
        raise HTTPException(422, "you cannot disable your own account")
    accounts.set_active(ctx.db, name, False)
    return Response(status_code=204)


@router.post("/teams", status_code=201, name="create_team")
def create_team(body: TeamCreate, _: Admin, ctx: Ctx) -> dict[str, bool]:
    return {"created": accounts.add_team(ctx.db, body.name)}


@router.post("/patients/{pid}/teams", status_code=204, name="assign_patient")
def assign_patient(
    body: TeamAssign,
    pid: Pid,
    _: Admin,
    ctx: Ctx,
) -> Response:
    accounts.assign_patient(ctx.db, pid, body.team)
    return Response(status_code=204)


@router.get("/audit/verify", response_model=AuditVerifyOut, name="audit_verify")
def audit_verify(_: Admin, ctx: Ctx) -> AuditVerifyOut:
    return AuditVerifyOut(**audit.verify(ctx.db).to_dict())  # type: ignore[arg-type]


@router.get(
    "/audit",
    response_class=StreamingResponse,
    name="audit_export",
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def audit_export(_: Admin, ctx: Ctx) -> StreamingResponse:
    """The whole trail as JSON lines (oldest first)."""
    return StreamingResponse(
        (line + "\n" for line in audit.export_lines(ctx.db)), media_type="application/x-ndjson"
    )
