"""CLI of virtual trials: ``braintwin trial run OUT`` and ``braintwin trial report OUT``.

Thin wrappers over ``braintwin.cohort`` (no science here); heavy imports happen inside the
commands. Both print a human summary and, as the last line of stdout, one JSON object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from braintwin.cli.groups import InterruptReported, emit_json

__all__ = ["register", "trial_app"]

trial_app = typer.Typer(
    help="Virtual trials on Dask: SYNTHETIC patients, every arm per patient, PFS analysis.",
    no_args_is_help=True,
)


def _months(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.1f}"


def _interval(ci: list[float | None] | None) -> str:
    if ci is None:
        return "[n/a]"
    return f"[{_months(ci[0])}, {_months(ci[1])}]"


def _print_summary(s: dict[str, Any]) -> None:
    done = "" if s["complete"] else f" (INCOMPLETE: {s['n']} of {s['planned_n']} stored)"
    typer.echo(f"SYNTHETIC virtual trial, {s['n']} patients, each treated in every arm{done}")
    typer.echo(f"definition: {s['definition']}")
    pub = s.get("published", {})
    for arm, a in s["arms"].items():
        ref = pub.get(f"{arm}_median_pfs_months")
        typer.echo(
            f"{arm:>12s}: median PFS {_months(a['median_pfs_months'])} months "
            f"(bootstrap 95 % {_interval(a['median_pfs_months_95ci'])}, "
            f"90 % {_interval(a['median_pfs_months_90ci'])})"
            + (f", published {ref}" if ref is not None else "")
            + f"; PFS at 6 months {a['pfs_6_months']:.0%}; {a['progressed']}/{s['n']} progressed"
        )
    for key, r in s["hazard_ratios"].items():
        if r["hazard_ratio"] is None:
            typer.echo(f"hazard ratio {key}: undefined (no progression)")
            continue
        lo, hi = r["hazard_ratio_95ci"]
        extra = f" (published {pub['hazard_ratio']})" if pub and key == "stupp vs rt" else ""
        typer.echo(f"hazard ratio {key} (Cox): {r['hazard_ratio']:.2f} [{lo:.2f}, {hi:.2f}]{extra}")
    typer.echo(f"plot: {s['plot']}")


def register(app: typer.Typer) -> None:
    """Add the ``trial`` group (``run``, ``report``)."""
    app.add_typer(trial_app, name="trial")


@trial_app.command("run")
def trial_run_cmd(
    out: Annotated[Path, typer.Argument(help="Results folder (created; reused to resume).")],
    n: Annotated[int, typer.Option("--n", help="Number of virtual patients.")] = 100,
    arms: Annotated[
        str,
        typer.Option(
            help="Comma-separated plan names or plan files (.yaml/.json); the last is the control."
        ),
    ] = "stupp,rt",
    seed: Annotated[int, typer.Option(help="Random seed of the patients (reproducible).")] = 0,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes (default: all cores).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Use a running Dask cluster at tcp://HOST:PORT instead of a local one."),
    ] = None,
    resolution: Annotated[float, typer.Option(help="Grid spacing in mm.")] = 3.0,
    brain: Annotated[
        str, typer.Option(help="'ball' (homogeneous white matter) or 'mni' (MNI152 tissue).")
    ] = "mni",
    sizes: Annotated[
        str,
        typer.Option(
            help="Residual core at radiotherapy: 'residual' (2-30 mL, assumed) or "
            "'literature' (published size at diagnosis and extent of resection)."
        ),
    ] = "literature",
    years: Annotated[float, typer.Option(help="Follow-up (years) before censoring.")] = 3.0,
    assessments: Annotated[
        str, typer.Option(help="'weekly' scans, or 'trial' (Stupp 2005's scan days).")
    ] = "weekly",
    prior: Annotated[
        str, typer.Option(help="Patient (D_w, rho) prior: 'population' or 'literature'.")
    ] = "population",
) -> None:
    """Run (or resume) a virtual trial; stores each patient as it finishes, then reports."""
    from braintwin.cli.core import progress_bar
    from braintwin.cohort import ResultsFolder, TrialSettings, parse_arms, run_trial
    from braintwin.cohort.report import trial_report

    settings = TrialSettings(
        n=n,
        seed=seed,
        brain=brain,
        sizes=sizes,
        resolution_mm=resolution,
        horizon_days=365.0 * years,
        schedule=assessments,
        prior=prior,
    )
    arm_specs = parse_arms(arms)
    try:
        with progress_bar("trial") as update:
            run = run_trial(
                out, settings, arm_specs, workers=workers, scheduler=scheduler, progress=update
            )
    except KeyboardInterrupt:
        stored = len(ResultsFolder(out).done())
        typer.secho(
            f"interrupted: {stored} of {n} patients are stored in {out}; "
            "run the same command again to resume",
            fg=typer.colors.RED,
            err=True,
        )
        raise InterruptReported() from None
    typer.echo(
        f"computed {run.computed} patients ({run.already_done} already stored) in "
        f"{run.seconds:.0f} s on {run.workers} workers ({run.scheduler}): "
        f"{run.patients_per_s:.3f} patients/s"
    )
    summary = trial_report(out, seed=seed)
    _print_summary(summary)
    summary["run"] = {
        "computed": run.computed,
        "already_done": run.already_done,
        "seconds": run.seconds,
        "patients_per_s": run.patients_per_s,
        "workers": run.workers,
        "scheduler": run.scheduler,
    }
    emit_json(summary)


@trial_app.command("report")
def trial_report_cmd(
    out: Annotated[Path, typer.Argument(help="Results folder of `braintwin trial run`.")],
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Survival summary and plot of the patients stored so far (JSON last line)."""
    from braintwin.cohort.report import trial_report

    summary = trial_report(out, seed=seed)
    _print_summary(summary)
    emit_json(summary)
