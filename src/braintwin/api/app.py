"""The FastAPI application: routes, audit, security headers and error handling.

``create_app`` builds the app over one store. Every request under ``/api/v1`` (except the
health check) is audited when its response starts — who, role, route, patient/visit/artifact,
status, client address — and is refused (503) if the audit record cannot be written. Errors
are one-line JSON ``{"detail": …}``: never a stack trace, a file path or an echoed input.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from braintwin import __version__
from braintwin.api import audit
from braintwin.api.context import ServiceContext
from braintwin.api.deps import PSEUDONYM
from braintwin.errors import BraintwinError, InputError, NotFoundError, StoreError

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"
log = logging.getLogger("braintwin.api")

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_CSP_API = b"default-src 'none'; frame-ancestors 'none'"
# the interactive docs load Swagger UI from its CDN
_CSP_DOCS = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    b"https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'"
)
_NO_STORE = (b"cache-control", b"no-store")
_UNAUDITED = {f"{API_PREFIX}/health"}
_DATE = r"^\d{4}-\d{2}-\d{2}$"


class _AuditAndHeaders:
    """Pure ASGI middleware (streams untouched): audit at response start, security headers."""

    def __init__(self, app: ASGIApp, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        audited = path.startswith(API_PREFIX) and path not in _UNAUDITED
        csp = _CSP_DOCS if path in ("/docs", "/redoc") else _CSP_API
        if path == "/" or path.startswith("/static/"):
            from braintwin.web import VIEWER_CSP

            csp = VIEWER_CSP
        failed = False

        async def wrapped(message: Message) -> None:
            nonlocal failed
            if failed:
                return
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += [*_HEADERS, (b"content-security-policy", csp)]
                # no-store unless the route chose its own caching (content-hashed volumes
                # and viewer assets: private, revalidated with their ETag)
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append(_NO_STORE)
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
                if audited:
                    try:
                        await _record(self.ctx, scope, int(message["status"]))
                    except Exception:
                        log.exception("audit record could not be written")
                        failed = True
                        await send(_start(503))
                        await send({"type": "http.response.body", "body": _BODY_503})
                        return
            await send(message)

        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await wrapped(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:  # answered here so it is audited and carries the headers
            log.exception("unexpected error")
            if not started:
                await tracking(_start(500))
                await tracking({"type": "http.response.body", "body": _BODY_500})


_BODY_500 = b'{"detail":"internal error; the administrator can find it in the server log"}'
_BODY_503 = b'{"detail":"the audit trail is unavailable; nothing was served"}'


def _start(status: int) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), *_HEADERS, _NO_STORE],
    }


async def _record(ctx: ServiceContext, scope: Scope, status: int) -> None:
    from starlette.concurrency import run_in_threadpool

    state: dict[str, Any] = scope.get("state", {})
    who = state.get("principal")
    route = scope.get("route")
    params: dict[str, Any] = scope.get("path_params", {}) or {}
    pid = params.get("pid") or state.get("patient")  # routes naming it in the body
    date = params.get("date")
    extra = [
        f"{k}:{v}" for k, v in params.items() if k not in ("pid", "date") and len(str(v)) <= 40
    ]
    import re

    entry = audit.AuditEntry(
        actor=(who.name if who else str(state.get("login_name") or "anonymous"))[:64],
        role=who.role if who else "-",
        action=getattr(route, "name", None) or "unmatched",
        method=str(scope.get("method", ""))[:8],
        outcome=status,
        client=str((scope.get("client") or ("-",))[0])[:64],
        # only well-formed pseudonyms and dates: a mistyped URL could hold an identifier
        patient_id=pid if isinstance(pid, str) and PSEUDONYM.match(pid) else None,
        visit=date if isinstance(date, str) and re.match(_DATE, date) else None,
        artifact=(state.get("artifact") or ",".join(extra) or None),
    )
    if entry.artifact is not None:
        entry = audit.AuditEntry(**{**entry.__dict__, "artifact": entry.artifact[:64]})
    await run_in_threadpool(audit.append, ctx.db, entry)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # name the field and the rule, never echo the value (it may be an identifier)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"invalid request: {where or 'body'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(BraintwinError)
    async def braintwin_error(_: Request, exc: BraintwinError) -> JSONResponse:
        if isinstance(exc, NotFoundError):
            return _error(404, exc.message)
        if isinstance(exc, StoreError):
            log.error("store error: %s", exc.message)
            return _error(503, "the store is unavailable; try again")
        status = 422 if isinstance(exc, InputError) else 400
        return _error(status, exc.message if exc.hint is None else f"{exc.message} ({exc.hint})")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error(500, "internal error; the administrator can find it in the server log")


def create_app(ctx: ServiceContext | None = None) -> FastAPI:
    """The braintwin REST API over ``ctx`` (default: the store of ``$BRAINTWIN_HOME``)."""
    from braintwin.api import (
        routes_admin,
        routes_auth,
        routes_exports,
        routes_jobs,
        routes_model,
        routes_patients,
        routes_viewer,
        routes_visits,
    )

    ctx = ctx or ServiceContext.open()
    app = FastAPI(
        title="braintwin",
        version=__version__,
        description="Digital twins of brain-tumour patients: a multi-user REST API.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    for module in (
        routes_auth,
        routes_patients,
        routes_visits,
        routes_model,
        routes_jobs,
        routes_exports,
        routes_admin,
        routes_viewer,
    ):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get(f"{API_PREFIX}/health", tags=["health"], name="health")
    def health() -> dict[str, str]:
        return {"status": "ok", "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}

    from braintwin.web import mount_viewer

    mount_viewer(app)
    _install_errors(app)
    app.add_middleware(_AuditAndHeaders, ctx=ctx)
    return app
