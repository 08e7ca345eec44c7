"""CLI commands of calibration and forecasting.

``braintwin train forecast DATA_DIR``, ``braintwin eval forecast DIR [--loo]``,
``braintwin bench calibrate [--n 50]`` and ``braintwin train calibration``. Thin wrappers over
``braintwin.calibrate``; heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from braintwin.atomic import atomic_write
from braintwin.cli.core import spacing_or_header
from braintwin.cli.groups import bench_app, emit_json, eval_app, train_app

__all__ = ["register"]


def _log(message: str, fraction: float) -> None:
    typer.echo(f"[{fraction:4.0%}] {message}", err=True)


def _write_json(data: dict[str, Any], out: Path) -> None:
    atomic_write(out, json.dumps(data, indent=2) + "\n")  # a crash never leaves half a file


def _print_methods(result: dict[str, Any]) -> None:
    typer.echo(
        f"{result['n']} pairs ({result['mode']}), each ingested as two visits of a fresh twin; "
        f"spacing {result['spacing_mm']} mm; segmentation {result['segmentation']}; "
        f"observed region {result['observed_region']} ({result['region_note']})"
    )
    for row in result["pairs"]:
        cells = "  ".join(
            f"{m} {row[m]['dice']:.3f}/{row[m]['volume_error']:.2f}" for m in _METHODS
        )
        typer.echo(
            f"  pair {row['pair']} ({row['interval_days']:.0f} d, {row['baseline_ml']:.1f} -> "
            f"{row['observed_ml']:.1f} mL): {cells}"
        )
    typer.echo("  (each cell: Dice / relative volume error)")
    for m in _METHODS:
        typer.echo(
            f"{m:>18}: Dice {result[m]['dice']:.3f}  volume error {result[m]['volume_error']:.3f}"
        )


_METHODS = ("twin", "no_growth", "uniform_expansion")


@eval_app.command("forecast")
def eval_forecast(
    data_dir: Annotated[Path, typer.Argument(help="folder of NN/ pairs + supplementary.csv")],
    loo: Annotated[
        bool,
        typer.Option("--loo", help="fit the expansion rate on the other pairs (leave-one-out)"),
    ] = False,
    spacing: Annotated[
        str,
        typer.Option(
            help="voxel size X,Y,Z in mm replacing the headers (the progression layout's "
            "headers claim 1 mm; its slices are ~5 mm: see DATA.md), or 'header'"
        ),
    ] = "1,1,5",
    segment: Annotated[
        str,
        typer.Option(
            help="'expert': each visit's mask is its segmentation (ingest --seg); "
            "'network': ignore the masks, the twin segments the T1ce"
        ),
    ] = "expert",
    pair: Annotated[
        list[str] | None, typer.Option("--pair", help="only this pair folder (repeatable)")
    ] = None,
    population: Annotated[
        Path | None,
        typer.Option(help="population JSON with the expansion rate (default: the shipped one)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
) -> None:
    """Ingest each pair as two visits of a fresh twin; score its own forecast vs baselines."""
    from braintwin.calibrate.population import load_population
    from braintwin.twin.evaluate_forecast import evaluate_forecast

    override = spacing_or_header(spacing)
    rate = None
    if not loo:  # fail before the long ingests when the shipped numbers are missing
        rate = float(load_population(population)["uniform_expansion"]["rate_mm_per_day"])
    result = evaluate_forecast(
        data_dir,
        spacing=override,
        segment=segment,
        loo=loo,
        rate_mm_per_day=rate,
        pairs=pair,
        progress=None if quiet else _log,
    )
    if not loo:
        result["rate_source"] = "shipped population.json (fitted by `train forecast`)"
    _print_methods(result)
    emit_json(result)


@train_app.command("forecast")
def train_forecast(
    data_dir: Annotated[Path, typer.Argument(help="folder of NN/ pairs + supplementary.csv")],
    out: Annotated[Path, typer.Option(help="where to write the population JSON")] = Path(
        "src/braintwin/data/forecast/population.json"
    ),
    grid_points: Annotated[int, typer.Option(help="log-grid points per parameter")] = 11,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
) -> None:
    """TRAINING (not an evaluation): fit the population numbers on all pairs."""
    from braintwin.calibrate.population import evaluate_pair_grid, fit_population
    from braintwin.calibrate.progression import load_progression

    pairs = load_progression(data_dir)
    progress = None if quiet else _log
    grids = [evaluate_pair_grid(p, n=grid_points, progress=progress) for p in pairs]
    pop = fit_population(grids, pairs)
    pop["trained_on"]["data_dir"] = data_dir.name
    _write_json(pop, out)
    typer.echo(
        f"training, not evaluation (scores on these pairs are in-sample; use "
        f"`eval forecast --loo`): trained on {len(pairs)} pairs: expansion {pop['uniform_expansion']['rate_mm_per_day']}"
        f" mm/day, credibility {pop['credibility']}; wrote {out}"
    )
    emit_json(pop)


@bench_app.command("calibrate")
def bench_calibrate(
    n: Annotated[int, typer.Option(help="number of in-silico patients")] = 50,
    seed: Annotated[int, typer.Option(help="seed of the synthetic cohort")] = 0,
    interval_days: Annotated[float, typer.Option(help="days between the two visits")] = 90.0,
    resolution: Annotated[int, typer.Option(help="grid of the synthetic brain (mm)")] = 4,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
) -> None:
    """Simulation-based calibration on SYNTHETIC patients: coverage of 90 % intervals."""
    from braintwin.calibrate.bench import run_sbc

    result = run_sbc(
        n,
        seed=seed,
        interval_days=interval_days,
        resolution_mm=resolution,
        progress=None if quiet else _log,
    )
    typer.echo(
        f"{result['n']} synthetic patients: 90 % coverage D_w {result['coverage_90']['D_w']:.2f}, "
        f"rho {result['coverage_90']['rho']:.2f}; median relative error "
        f"D_w {result['median_rel_error']['D_w']:.2f}, rho {result['median_rel_error']['rho']:.2f}; "
        f"{result['seconds_per_patient']:.1f} s per patient"
    )
    emit_json(result)


@bench_app.command("calibrate-real")
def bench_calibrate_real(
    case: Annotated[Path, typer.Argument(help="BraTS case folder (CASE_t1 + CASE_seg)")],
    interval_days: Annotated[float, typer.Option(help="days to the SYNTHETIC 2nd visit")] = 60.0,
) -> None:
    """Time one real-size calibration: real visit 1 + SYNTHETIC visit 2 (known parameters)."""
    from braintwin.calibrate.bench import time_real_patient
    from braintwin.errors import InputError
    from braintwin.io import load_nifti
    from braintwin.types import Modality

    segs, t1s = sorted(case.glob("*_seg.nii*")), sorted(case.glob("*_t1.nii*"))
    if not segs or not t1s:
        raise InputError(f"no *_seg / *_t1 NIfTI in {case}", "give a BraTS case folder")
    seg = load_nifti(segs[0], Modality.SEG)
    t1 = load_nifti(t1s[0], Modality.T1)
    brain = t1.with_data((t1.data > 0).astype("uint8"), Modality.MASK)
    result = time_real_patient(seg, brain, interval_days=interval_days)
    typer.echo(f"calibrated a {result['shape']} patient in {result['seconds']:.1f} s")
    emit_json(result)


@train_app.command("calibration")
def train_calibration(
    n: Annotated[int, typer.Option(help="development synthetic patients")] = 12,
    resolution: Annotated[int, typer.Option(help="grid of the synthetic brain (mm)")] = 4,
    seed: Annotated[int, typer.Option(help="seed (keep it apart from the bench's)")] = 100,
    start_temperature: Annotated[
        float, typer.Option(help="temperature of the development run (one update from it)")
    ] = 16.0,
    out: Annotated[Path, typer.Option(help="where to write the observation model JSON")] = Path(
        "src/braintwin/data/forecast/calibration.json"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
) -> None:
    """Fit the likelihood temperature on development SYNTHETIC patients (not the bench's)."""
    from dataclasses import replace

    from braintwin.calibrate.bench import fit_temperature, run_sbc
    from braintwin.calibrate.likelihood import ObservationModel

    base = ObservationModel(temperature=start_temperature)
    result = run_sbc(
        n,
        seed=seed,
        resolution_mm=resolution,
        calibrate_kwargs={"observation": base},
        progress=None if quiet else _log,
    )
    temp = fit_temperature(result, base.temperature)
    obs = replace(base, temperature=round(temp, 2))
    data = {
        "observation": obs.to_dict(),
        "fitted_on": {
            "synthetic_patients": result["n"],
            "seed": seed,
            "start_temperature": start_temperature,
            "resolution_mm": resolution,
            "coverage_90_at_start": result["coverage_90"],
        },
        "method": "median z^2 matched to chi2_1 (Syring & Martin 2019)",
    }
    _write_json(data, out)
    typer.echo(
        f"temperature {obs.temperature} from {result['n']} development patients; wrote {out}"
    )
    emit_json(data)


def register(app: typer.Typer) -> None:
    """Commands live in the shared eval/train/bench groups (registered at import)."""
