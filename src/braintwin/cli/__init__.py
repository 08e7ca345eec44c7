"""The ``braintwin`` command line: a thin layer over the Python API.

Each command group lives in its own module with a ``register(app)`` function; the registry
below lists them explicitly (no discovery by name). Errors derived from ``BraintwinError`` are
printed as one line and exit with status 2 — never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from braintwin.cli.groups import bench_app, eval_app, train_app
from braintwin.errors import BraintwinError

__all__ = ["app", "main"]

app = typer.Typer(
    name="braintwin",
    help="A digital twin of a brain-tumour patient built from MRI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """A digital twin of a brain-tumour patient built from MRI (run a command with --help)."""


# Explicit registry of command modules, each exposing ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "braintwin.cli.core",
    "braintwin.cli.twin",
    "braintwin.cli.preprocess",
    "braintwin.cli.growth",
    "braintwin.cli.segment",
    "braintwin.cli.classify",
    "braintwin.cli.calibrate",
    "braintwin.cli.store",
)

_registered = False


def _register_all() -> None:
    global _registered
    if _registered:
        return
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    app.add_typer(eval_app, name="eval")
    app.add_typer(bench_app, name="bench")
    app.add_typer(train_app, name="train")
    _registered = True


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register_all()
    try:
        app(args=argv)  # standalone: usage errors print a short message and exit 2
    except BraintwinError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted; nothing partial was kept", err=True)
        sys.exit(130)
