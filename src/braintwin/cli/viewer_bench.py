"""``braintwin bench viewer``: time to interactive of the web viewer's patient page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.groups import bench_app, emit_json

__all__ = ["register"]


@bench_app.command("viewer")
def bench_viewer(
    url: Annotated[
        str | None,
        typer.Option(help="A running server (default: start one with the demo case)."),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(help="Start a server on this braintwin home instead (needs --user)."),
    ] = None,
    user: Annotated[str | None, typer.Option(help="Account to sign in with.")] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="BRAINTWIN_PASSWORD", help="Its password (or $BRAINTWIN_PASSWORD)."),
    ] = None,
    patient: Annotated[
        str | None, typer.Option(help="Pseudonym to open (default: the one with most visits).")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, max=20, help="Cold+warm pairs (median).")] = 3,
    timeout: Annotated[
        float, typer.Option(min=5, help="Seconds allowed for each step (sign-in, opening).")
    ] = 120.0,
    screenshot: Annotated[
        Path | None, typer.Option(help="Save a screenshot of the first ready page (PNG).")
    ] = None,
) -> None:
    """Seconds from opening a patient to data-ready (first volume and overlay drawn), cold
    (fresh browser profile) and warm (a new tab of the same profile, ETag revalidation), and the bytes transferred,
    in headless Chromium. Target: 2 s on localhost."""
    from braintwin.web.bench import run_viewer_bench

    result = run_viewer_bench(
        url=url.rstrip("/") if url else None,
        home=home,
        user=user,
        password=password,
        pid=patient,
        repeats=repeats,
        timeout_s=timeout,
        screenshot=screenshot,
        echo=typer.echo,
    )
    emit_json(result)


def register(app: typer.Typer) -> None:
    """The command lives in the ``bench`` group (added by the decorator above)."""
