"""``braintwin serve``, ``worker``, ``users …``, ``audit …`` and ``bench api``: the service.

``serve`` runs the REST API (uvicorn, 127.0.0.1:8000 by default) and, unless ``--no-worker``,
one job worker process beside it. There is no default account: create the first admin with
``braintwin users add NAME --role admin`` (password prompted, or read from stdin with
``--password-stdin``). ``docs/service.md`` is the guide.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.groups import bench_app, emit_json
from braintwin.errors import ConfigurationError, InputError

__all__ = ["register"]

users_app = typer.Typer(help="Accounts, teams and API tokens of the service.")
audit_app = typer.Typer(help="The service's audit trail: verify the hash chain, export it.")
_DB = typer.Option("--db", help="Database URL (default: SQLite under $BRAINTWIN_HOME).")
_MAIN = "from braintwin.cli import main; main()"


def _db(url: str | None):  # type: ignore[no-untyped-def]
    from braintwin.api.db import ServiceDB
    from braintwin.store import Store

    return ServiceDB(Store.open(url=url).engine)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            "--workers-inline/--no-worker",
            help="Start one job worker process beside the API (default), or none "
            "(then run `braintwin worker` yourself).",
        ),
    ] = True,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    db: Annotated[str | None, _DB] = None,
) -> None:
    """Run the REST API (OpenAPI at /openapi.json, interactive docs at /docs)."""
    import uvicorn

    from braintwin.api import ServiceContext, create_app

    if not 1 <= port <= 65535:
        raise InputError("the port must be 1-65535")
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ConfigurationError("give both --ssl-certfile and --ssl-keyfile, or neither")
    ctx = ServiceContext.open(url=db)
    proc = None
    if worker:
        cmd = [sys.executable, "-c", _MAIN, "worker", "--parent", str(os.getpid())]
        cmd += ["--db", db] if db else []
        proc = subprocess.Popen(cmd, env=os.environ.copy())
    scheme = "https" if ssl_certfile else "http"
    typer.echo(
        f"braintwin API on {scheme}://{host}:{port} (docs: /docs); Ctrl-C stops it", err=True
    )
    try:
        uvicorn.run(
            create_app(ctx),
            host=host,
            port=port,
            log_level="warning",
            server_header=False,
            proxy_headers=False,
            ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
            ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def worker_cmd(
    once: Annotated[bool, typer.Option("--once", help="Exit when the queue is empty.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between polls of an empty queue.")] = 0.5,
    parent: Annotated[
        int | None, typer.Option(hidden=True, help="Stop when this process is gone.")
    ] = None,
    db: Annotated[str | None, _DB] = None,
) -> None:
    """Run background jobs (ingest, model update, forecast) from the database queue."""
    from braintwin.api.settings import ServiceSettings
    from braintwin.api.worker import Worker
    from braintwin.store import Store

    w = Worker(Store.open(url=db), ServiceSettings.from_env(), poll_s=poll)
    typer.echo(f"worker {w.name} started", err=True)
    n = w.run(once=once, parent=parent)
    typer.echo(f"worker {w.name} stopped after {n} job(s)", err=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin, clinician or researcher.")],
    team: Annotated[list[str] | None, typer.Option(help="Team to join (repeatable).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    db: Annotated[str | None, _DB] = None,
) -> None:
    """Create an account (there is no default one)."""
    from braintwin.api import accounts

    accounts.add_user(_db(db), name, role, _password(password_stdin), list(team or []))
    typer.echo(f"created {role} {name}")


@users_app.command("list")
def users_list(db: Annotated[str | None, _DB] = None) -> None:
    """Accounts with their role, state and teams."""
    from braintwin.api import accounts

    for name, role, active, teams in accounts.list_users(_db(db)):
        state = "" if active else " (disabled)"
        typer.echo(f"{name}\t{role}{state}\t{','.join(teams)}")


@users_app.command("disable")
def users_disable(name: str, db: Annotated[str | None, _DB] = None) -> None:
    """Disable an account (its tokens stop working at once)."""
    from braintwin.api import accounts

    accounts.set_active(_db(db), name, False)
    typer.echo(f"disabled {name}")


@users_app.command("token")
def users_token(
    name: str,
    token_name: Annotated[str, typer.Option("--name", help="A label for the token.")] = "script",
    days: Annotated[int, typer.Option(help="Lifetime in days.")] = 90,
    db: Annotated[str | None, _DB] = None,
) -> None:
    """Create an API token for NAME and print it (once; only its hash is kept)."""
    from braintwin.api import accounts

    token_id, token = accounts.create_api_token(_db(db), name, token_name, days)
    typer.echo(
        f"token {token_id} for {name} (revoke: DELETE /api/v1/auth/tokens/{token_id}):", err=True
    )
    typer.echo(token)


@users_app.command("team-add")
def team_add(team: str, db: Annotated[str | None, _DB] = None) -> None:
    """Create a care team or research group."""
    from braintwin.api import accounts

    accounts.add_team(_db(db), team)
    typer.echo(f"team {team}")


@users_app.command("join")
def users_join(name: str, team: str, db: Annotated[str | None, _DB] = None) -> None:
    """Add a user to a team."""
    from braintwin.api import accounts

    accounts.add_member(_db(db), name, team)
    typer.echo(f"{name} joined {team}")


@users_app.command("assign")
def users_assign(patient: str, team: str, db: Annotated[str | None, _DB] = None) -> None:
    """Put a patient (pseudonym) into a team."""
    from braintwin.api import accounts

    accounts.assign_patient(_db(db), patient, team)
    typer.echo(f"{patient} is in {team}")


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        str | None, typer.Option(help="The head hash kept from an earlier verify (truncation).")
    ] = None,
    db: Annotated[str | None, _DB] = None,
) -> None:
    """Recompute the hash chain; exit 2 when a record was changed or removed."""
    from braintwin.api import audit

    report = audit.verify(_db(db), expect_head)
    if report.ok:
        typer.echo(f"audit trail intact: {report.records} records, head {report.head}")
    else:
        typer.echo(f"audit trail BROKEN: {report.problem}", err=True)
    emit_json(report.to_dict())
    if not report.ok:
        raise typer.Exit(2)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
    db: Annotated[str | None, _DB] = None,
) -> None:
    """Every audit record as JSON lines (oldest first, with hashes)."""
    from braintwin.api import audit

    lines = audit.export_lines(_db(db))
    if out is None:
        for line in lines:
            typer.echo(line)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        n = 0
        for line in lines:
            fh.write(line + "\n")
            n += 1
    typer.echo(f"wrote {n} records to {out}")


@bench_app.command("api")
def bench_api(
    seconds: Annotated[float, typer.Option(help="Measuring time per endpoint and level.")] = 3.0,
    size: Annotated[int, typer.Option(help="Edge of the synthetic volume (voxels).")] = 96,
    db: Annotated[
        str | None,
        typer.Option("--db", help="A scratch database URL (default: SQLite in a temporary home)."),
    ] = None,
) -> None:
    """Requests/s and p95 latency of the patient list, a visit's measurements and a volume
    download, with 1 and 8 concurrent clients, against a real server on 127.0.0.1."""
    from braintwin.api.bench import run_bench

    emit_json(run_bench(seconds=seconds, size=size, db_url=db, echo=typer.echo))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker_cmd)
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
