"""Shared sub-command groups (``braintwin eval …``, ``bench …``, ``train …``).

Domain CLI modules add their commands to these groups, e.g.
``@eval_app.command("segment")`` in ``braintwin.cli.segment``. Evaluation and benchmark
commands print a human summary and, as the last line of stdout, one JSON object.
"""

from __future__ import annotations

import json
from typing import Any

import typer

__all__ = [
    "InterruptReported",
    "bench_app",
    "emit_json",
    "eval_app",
    "export_app",
    "import_app",
    "train_app",
]


class InterruptReported(SystemExit):
    """Exit 130 after a command has already said what Ctrl-C left stored and how to resume
    (the top level then adds nothing)."""

    def __init__(self) -> None:
        super().__init__(130)


eval_app = typer.Typer(help="Evaluate a stage on a data folder (last line of stdout: JSON).")
bench_app = typer.Typer(help="Performance benchmarks (last line of stdout: JSON).")
train_app = typer.Typer(help="Train the shipped models from data (seeded, reproducible).")
export_app = typer.Typer(help="Write a twin in a standard format (FHIR, BIDS, DICOM for PACS).")
import_app = typer.Typer(help="Read clinical data into a twin from a standard format (FHIR).")


def emit_json(result: dict[str, Any]) -> None:
    """Print ``result`` as the final single-line JSON object of a command's stdout."""
    typer.echo(json.dumps(result, default=float, separators=(",", ":")))
