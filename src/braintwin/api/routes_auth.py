"""Login, the caller's own account and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from braintwin.api import accounts, audit
from braintwin.api.deps import Ctx, RowId, User
from braintwin.api.schemas import (
    ApiTokenCreated,
    ApiTokenInfo,
    ApiTokenRequest,
    LoginRequest,
    MeOut,
    TokenOut,
)
from braintwin.api.security import issue_access_token, verify_password
from braintwin.store.records import as_utc

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=TokenOut, name="login")
def login(body: LoginRequest, request: Request, ctx: Ctx) -> TokenOut:
    """Exchange a name and password for a short-lived access token.

    After ``login_failures`` wrong passwords for one account (or four times as many from one
    client address) within ``login_window_s``, logins are refused with 429 until the window
    has passed; every attempt is audited.
    """
    name = body.username[:64]
    request.state.login_name = name
    client = request.client.host if request.client else "-"
    lim = ctx.settings
    if (
        audit.failed_logins(ctx.db, actor=name, client=None, since_s=lim.login_window_s)
        >= lim.login_failures
        or audit.failed_logins(ctx.db, actor=None, client=client, since_s=lim.login_window_s)
        >= 4 * lim.login_failures
    ):
        raise HTTPException(
            429,
            "too many failed logins; try again later",
            headers={"Retry-After": str(lim.login_window_s)},
        )
    found = accounts.user_by_name(ctx.db, name)
    ok = verify_password(found[1] if found else None, body.password)
    if found is None or not ok or not found[2]:
        raise HTTPException(401, "wrong user name or password")
    token, expires = issue_access_token(ctx.key, found[0], lim.access_token_s)
    return TokenOut(access_token=token, expires_at=expires)


@router.get("/me", response_model=MeOut, name="me")
def me(who: User, ctx: Ctx) -> MeOut:
    teams = [t for n, _, _, ts in accounts.list_users(ctx.db) if n == who.name for t in ts]
    return MeOut(name=who.name, role=who.role, teams=teams, via=who.via)


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201, name="create_token")
def create_token(
    body: ApiTokenRequest,
    who: User,
    ctx: Ctx,
) -> ApiTokenCreated:
    """A revocable API token for scripts (its secret is shown only in this response)."""
    if who.via != "jwt":
        raise HTTPException(403, "log in with a password to create API tokens")
    token_id, token = accounts.create_api_token(ctx.db, who.name, body.name, body.days)
    row = next(t for t in accounts.list_api_tokens(ctx.db, who.user_id) if t.id == token_id)
    expires = None if row.expires_at is None else as_utc(row.expires_at)
    return ApiTokenCreated(id=token_id, name=body.name, token=token, expires_at=expires)


@router.get("/tokens", response_model=list[ApiTokenInfo], name="list_tokens")
def list_tokens(who: User, ctx: Ctx) -> list[ApiTokenInfo]:
    return [
        ApiTokenInfo(
            id=t.id,
            name=t.name,
            created_at=as_utc(t.created_at),
            expires_at=None if t.expires_at is None else as_utc(t.expires_at),
            revoked=t.revoked_at is not None,
        )
        for t in accounts.list_api_tokens(ctx.db, who.user_id)
    ]


@router.delete("/tokens/{token_id}", status_code=204, name="revoke_token")
def revoke_token(
    token_id: RowId,
    who: User,
    ctx: Ctx,
) -> Response:
    """Revoke one of your API tokens (admins: anyone's)."""
    owner = None if who.is_admin else who.user_id
    if not accounts.revoke_api_token(ctx.db, token_id, owner):
        raise HTTPException(404, "no such token")
    return Response(status_code=204)
