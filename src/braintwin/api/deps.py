"""Request dependencies: the caller's identity and per-patient authorisation.

Every patient-scoped route calls :func:`patient_access`: admins reach every existing patient
(404 for an unknown one); clinicians and researchers reach the patients of their teams, and an
unknown patient is answered like a patient of another team (403), so the API is no oracle for
which pseudonyms exist. Writes need the admin or clinician role.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from braintwin.api import accounts
from braintwin.api.accounts import Principal
from braintwin.api.context import ServiceContext
from braintwin.api.security import API_TOKEN_PREFIX, TokenError, read_access_token

__all__ = [
    "PSEUDONYM",
    "Admin",
    "Ctx",
    "Pid",
    "RowId",
    "User",
    "VisitDate",
    "context",
    "current_user",
    "patient_access",
    "require_role",
]

PSEUDONYM = re.compile(r"^BT-[A-Z2-7]{10}$")
_bearer = HTTPBearer(auto_error=False, description="A login token or an API token (btk_…)")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(context)]


def current_user(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ctx: Ctx,
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "authentication required", headers=_CHALLENGE)
    token = creds.credentials
    if token.startswith(API_TOKEN_PREFIX):
        user_id = accounts.api_token_user(ctx.db, token)
        if user_id is None:
            raise HTTPException(401, "the API token is not valid or was revoked", _CHALLENGE)
        via = "api-token"
    else:
        try:
            user_id = read_access_token(ctx.key, token).user_id
        except TokenError as err:
            raise HTTPException(401, str(err), headers=_CHALLENGE) from err
        via = "jwt"
    who = accounts.principal_for(ctx.db, user_id, via)
    if who is None:
        raise HTTPException(401, "the account is disabled or gone", headers=_CHALLENGE)
    request.state.principal = who
    return who


User = Annotated[Principal, Depends(current_user)]


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    def check(who: User) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")
        return who

    return check


def patient_access(ctx: ServiceContext, who: Principal, pid: str, *, write: bool) -> None:
    """Raise 403/404 unless ``who`` may read (or write) the patient ``pid``."""
    if write and not who.can_write:
        raise HTTPException(403, "researchers have read-only access")
    if who.is_admin:
        if not PSEUDONYM.match(pid) or not ctx.store.has_patient(pid):
            raise HTTPException(404, "no such patient")
        return
    if not PSEUDONYM.match(pid) or not (accounts.patient_teams(ctx.db, pid) & who.teams):
        raise HTTPException(403, "this patient is not in one of your teams")


Admin = Annotated[Principal, Depends(require_role("admin"))]
Pid = Annotated[str, Path(pattern=PSEUDONYM.pattern, description="the patient's pseudonym")]
VisitDate = Annotated[
    str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$", description="the visit's (shifted) date")
]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
