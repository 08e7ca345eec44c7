"""``braintwin bench fuzz``: a long mutation-fuzzing pass over the readers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.groups import bench_app, emit_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``bench fuzz`` to the shared ``bench`` group."""

    @bench_app.command("fuzz")
    def fuzz(
        n: Annotated[int, typer.Option("--n", min=1, help="Number of mutated inputs.")] = 10000,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the run (reproducible).")] = 0,
        timeout: Annotated[
            float, typer.Option("--timeout", min=0.5, help="Seconds after which a read hangs.")
        ] = 10.0,
        keep: Annotated[
            Path | None,
            typer.Option("--keep", help="Copy every escape/hang/over-allocation case here."),
        ] = None,
    ) -> None:
        """Fuzz the NIfTI, DICOM, 2D-image and visit readers with mutated demo data.

        Prints counts by outcome (ok, error, escape, hang, over_allocation) and by reader; the
        last line is JSON. Exits 1 when any input escaped, hung or over-allocated.
        """
        from braintwin.fuzz import OUTCOMES, run_fuzz

        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
        step = max(n // 20, 1)

        def progress(done: int, total: int) -> None:
            if done % step == 0 or done == total:
                typer.echo(f"  {done}/{total} inputs", err=True)

        report = run_fuzz(n, seed=seed, timeout=timeout, keep=keep, progress=progress)
        counts = ", ".join(f"{k} {report.outcomes[k]}" for k in OUTCOMES)
        typer.echo(f"{report.n} inputs in {report.seconds:.0f} s (seed {seed}): {counts}")
        for reader, c in sorted(report.by_reader.items()):
            typer.echo(f"  {reader:6s} " + ", ".join(f"{k} {c[k]}" for k in OUTCOMES if c[k]))
        for f in report.findings[:10]:
            typer.echo(f"  case {f.index} [{f.reader} {f.label}] {f.outcome}: {f.detail}")
        if not report.memory_checked:
            typer.echo("  (peak memory not measured: needs Linux /proc/self/clear_refs)")
        emit_json(report.to_json())
        if report.failures:
            raise typer.Exit(1)
