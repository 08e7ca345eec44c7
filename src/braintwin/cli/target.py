"""CLI of target volumes: ``braintwin plans ctv ID`` and ``braintwin eval coverage DIR``.

``ctv`` is registered as a top-level command here (it is meant to live under ``braintwin
plans`` once that group exists). Thin: parse, call the twin, print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.core import DbOpt, open_store
from braintwin.cli.groups import emit_json, eval_app
from braintwin.plan.target import DEFAULT_GROW_DAYS, DEFAULT_MARGIN_MM, DEFAULT_SAMPLES

__all__ = ["ctv_cmd", "eval_coverage", "register"]

MarginOpt = Annotated[
    float,
    typer.Option(
        "--margin-mm", help="Standard CTV margin around the GTV in mm (ESTRO-EANO 2023: 15)."
    ),
]
GrowOpt = Annotated[
    float,
    typer.Option(
        "--grow-days",
        help="Untreated growth (days) before ranking the model density; 0 = at the scan.",
    ),
]
SamplesOpt = Annotated[
    int, typer.Option("--samples", help="Posterior draws averaged for the model density.")
]


def _log(message: str, fraction: float) -> None:
    typer.echo(f"[{fraction:4.0%}] {message}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``plans ctv`` (``eval coverage`` is on the shared eval group)."""
    from braintwin.cli.plans import plans_app

    plans_app.command("ctv")(ctv_cmd)


def ctv_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write ctv_model / ctv_standard (NIfTI, RTSTRUCT) here."),
    ] = None,
    margin_mm: MarginOpt = DEFAULT_MARGIN_MM,
    grow_days: GrowOpt = DEFAULT_GROW_DAYS,
    samples: SamplesOpt = DEFAULT_SAMPLES,
    db: DbOpt = None,
) -> None:
    """Standard CTV (GTV + margin within the brain) and the model CTV of equal volume."""
    from braintwin.cli.twin_model import warn_if_stale
    from braintwin.twin import Twin
    from braintwin.twin.targets import export_target_volumes, twin_target_volumes

    twin = Twin.open(patient, store=open_store(db))
    tv = twin_target_volumes(twin, margin_mm=margin_mm, grow_days=grow_days, n_samples=samples)
    typer.echo(f"patient {twin.id}: target volumes planned on the visit of {tv.date}")
    warn_if_stale(twin)
    typer.echo(f"  GTV (T1ce-visible tumour core TC, labels 1+4): {tv.gtv_ml:.1f} mL")
    typer.echo(
        f"  standard CTV (GTV + {tv.margin_mm:g} mm within the brain): {tv.standard_ml:.1f} mL"
    )
    typer.echo(
        f"  model CTV (highest posterior-mean tumour cell density, {tv.n_samples} draws, "
        f"{tv.source}): {tv.model_ml:.1f} mL; lowest density inside "
        f"{tv.threshold_density:.3g}; overlap with the standard CTV Dice {tv.dice:.3f}"
    )
    for note in tv.notes:
        typer.echo(f"  note: {note}")
    if out is not None:
        for path in export_target_volumes(twin, tv, out):
            typer.echo(f"  wrote {path}")


@eval_app.command("coverage")
def eval_coverage(
    data_dir: Annotated[Path, typer.Argument(help="folder of NN/ pairs + supplementary.csv")],
    spacing: Annotated[
        str,
        typer.Option(
            help="voxel size X,Y,Z in mm replacing the headers (the progression layout's "
            "headers claim 1 mm; its slices are ~5 mm: see DATA.md), or 'header'"
        ),
    ] = "1,1,5",
    margin_mm: MarginOpt = DEFAULT_MARGIN_MM,
    grow_days: GrowOpt = DEFAULT_GROW_DAYS,
    samples: SamplesOpt = DEFAULT_SAMPLES,
    pair: Annotated[
        list[str] | None, typer.Option("--pair", help="only this pair folder (repeatable)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
) -> None:
    """Recurrence coverage: follow-up enhancing tumour inside the standard vs the model CTV."""
    from braintwin.cli.core import spacing_or_header
    from braintwin.twin.evaluate_coverage import evaluate_coverage

    override = spacing_or_header(spacing)
    result = evaluate_coverage(
        data_dir,
        spacing=override,
        margin_mm=margin_mm,
        grow_days=grow_days,
        n_samples=samples,
        pairs=pair,
        progress=None if quiet else _log,
    )
    typer.echo(
        f"{result['n']} pairs; CTVs planned on the first scan (one visit: population prior); "
        f"observed: {result['observed_region']} of the follow-up; margin {margin_mm:g} mm"
    )
    for row in result["pairs"]:
        out_s, out_m = row["outside_standard"], row["outside_model"]
        outside = (
            f"outside GTV ({row['outside_gtv_ml']:.1f} mL) standard {out_s:.3f} model {out_m:.3f}"
            if out_s is not None
            else "nothing outside the GTV"
        )
        typer.echo(
            f"  pair {row['pair']} ({row['interval_days']:.0f} d, CTV {row['ctv_ml']:.0f} mL, "
            f"follow-up {row['followup_ml']:.1f} mL): standard {row['coverage_standard']:.3f} "
            f"model {row['coverage_model']:.3f}; {outside}"
        )
    for key, name in (("standard_margin", f"GTV + {margin_mm:g} mm"), ("model_ctv", "model CTV")):
        r = result[key]
        typer.echo(
            f"{name:>15}: coverage {r['coverage']}  coverage outside the GTV "
            f"{r['coverage_outside_gtv']}"
        )
    emit_json(result)
