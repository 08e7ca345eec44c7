"""The ``braintwin`` command line: a thin layer over the Python API.

Each command group lives in its own module with a ``register(app)`` function; the registry
below lists them explicitly (no discovery by name). Errors derived from ``BraintwinError`` are
printed as one line and exit with status 2 — never a traceback. Anything unexpected prints one
line pointing to a crash log (``$BRAINTWIN_HOME/logs/braintwin-error.log``, owner-only) that
holds the traceback, and exits 1; ``braintwin --debug …`` shows the traceback instead. Ctrl-C
prints "interrupted" and exits 130.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path

import typer

from braintwin.cli.groups import (
    InterruptReported,
    bench_app,
    eval_app,
    export_app,
    import_app,
    train_app,
)
from braintwin.errors import BraintwinError

__all__ = ["app", "main"]

app = typer.Typer(
    name="braintwin",
    help="A digital twin of a brain-tumour patient built from MRI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show Python tracebacks of unexpected errors (for bug reports)."
    ),
) -> None:
    """A digital twin of a brain-tumour patient built from MRI (run a command with --help)."""
    _state["debug"] = debug or _state["debug"]


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
    "braintwin.cli.fuzz",
    "braintwin.cli.plans",
    "braintwin.cli.target",
    "braintwin.cli.cohort",
    "braintwin.cli.serve",
    "braintwin.cli.fhir",
    "braintwin.cli.bids",
    "braintwin.cli.pacs",
    "braintwin.cli.viewer_bench",
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
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")
    _registered = True


def _log_dir() -> Path:
    try:
        from braintwin.store.engine import default_home

        return default_home() / "logs"
    except Exception:  # the store itself may be what is broken
        return Path(tempfile.gettempdir()) / f"braintwin-{os.getuid()}"


def _scrub(text: str, argv: list[str]) -> str:
    """``text`` with every command-line value replaced by ``<arg N>``: paths and patient IDs
    given on the command line are the identifiers a traceback is most likely to quote."""
    values = [(i, a) for i, a in enumerate(argv) if len(a) >= 3 and not a.startswith("-")]
    for i, value in sorted(values, key=lambda x: -len(x[1])):
        text = text.replace(value, f"<arg {i}>")
    return text


def write_crash_log(err: BaseException, argv: list[str]) -> Path | None:
    """Write ``err``'s traceback (command-line values scrubbed) to the owner-only crash log."""
    try:
        folder = _log_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):  # an existing folder may have been made 0755
            folder.chmod(0o700)
        path = folder / "braintwin-error.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"braintwin crash at {stamp} (UTC)\n{_scrub(tb, argv)}")
        return path
    except Exception:  # the handler must never raise: the caller falls back to --debug
        return None


def _fail(message: str, code: int) -> None:
    typer.secho(message, err=True, fg=typer.colors.RED)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    _state["debug"] = "--debug" in args[:1] or os.environ.get("BRAINTWIN_DEBUG") == "1"
    _register_all()
    try:
        app(args=args)  # standalone: usage errors print a short message and exit 2
    except SystemExit as exit_:
        if exit_.code == 130 and not isinstance(
            exit_, InterruptReported
        ):  # typer turns Ctrl-C inside a command into a silent exit 130
            _fail("interrupted", 130)
        raise
    except BraintwinError as err:
        if _state["debug"]:
            traceback.print_exc()
        _fail(f"error: {err}", 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:  # `braintwin … | head`: the reader went away, nothing to report
        sys.stderr.close()
        sys.exit(141)
    except MemoryError:
        _fail(
            "error: out of memory (free memory, work on smaller inputs, or lower "
            "BRAINTWIN_MAX_VOLUME_BYTES so oversized inputs are refused up front)",
            1,
        )
    except Exception as err:
        if _state["debug"]:
            raise
        log = write_crash_log(err, args)
        where = f"traceback in {log}" if log else "run again with --debug for the traceback"
        _fail(
            f"error: unexpected internal error ({type(err).__name__}); {where}; please report it",
            1,
        )
