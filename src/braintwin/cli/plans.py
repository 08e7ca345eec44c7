"""``braintwin plans …``: the regimen library, plan files, and decision support for a twin
(compare plans, optimise one) under the twin's posterior. Thin: the science is in
:mod:`braintwin.plan`, the twin's part in :mod:`braintwin.twin.planning`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from braintwin.cli.core import DbOpt, open_store, parse_date
from braintwin.cli.groups import bench_app, emit_json
from braintwin.cli.steps import step_progress

if TYPE_CHECKING:
    from braintwin.plan.compare import PlanComparison, PlanSummary

__all__ = ["plans_app", "register"]

plans_app = typer.Typer(
    help="Treatment plans: the regimen library, plan files, compare and optimise for a twin.",
    no_args_is_help=True,
)

OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder for the figure and plan files (created)."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(plans_app, name="plans")
    bench_app.command("trial")(bench_trial_cmd)


def bench_trial_cmd(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Results folder (reused to resume; default under home)."),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Virtual patients.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the patients.")] = 0,
    brain: Annotated[
        str, typer.Option(help="'ball' (the optimiser's fast model is exact) or 'mni'.")
    ] = "ball",
    workers: Annotated[
        int | None, typer.Option(help="Local Dask workers (default: cores).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="A running Dask scheduler, tcp://HOST:PORT.")
    ] = None,
) -> None:
    """Per-patient optimised radiotherapy vs Stupp (and RT alone) in a SYNTHETIC virtual trial
    on Dask: median time-to-progression gain, dose reduction at equal control, speed."""
    from braintwin.cli.core import progress_bar
    from braintwin.cohort.bench import bench_trial
    from braintwin.store.engine import default_home

    folder = out or default_home() / "bench" / f"trial-{brain}-n{n}-seed{seed}"
    with progress_bar("bench trial") as update:
        r = bench_trial(
            folder,
            n,
            seed=seed,
            brain=brain,
            workers=workers,
            scheduler=scheduler,
            progress=update,
        )

    def fmt(x: float | None, unit: str = "") -> str:
        return "n/a" if x is None else f"{x:.1f}{unit}"

    ci = r["median_ttp_gain_days_90ci"] or [None, None]
    dci = r["dose_reduction_pct_90ci"] or [None, None]
    typer.echo(f"SYNTHETIC virtual trial, {r['n']} patients ({brain} brain), results in {folder}")
    typer.echo(
        f"  median TTP gain, optimised vs Stupp at 60 Gy: {fmt(r['median_ttp_gain_days'], ' d')}"
        f" [90 %: {fmt(ci[0])}, {fmt(ci[1])}] (Chaudhuri 2023: about 6 d)"
    )
    typer.echo(
        f"  dose reduction at equal control: {fmt(r['dose_reduction_pct'], ' %')} "
        f"[90 %: {fmt(dci[0])}, {fmt(dci[1])}] (Chaudhuri 2023: 16.7 %); PFS at 12 months "
        + ", ".join(f"{a} {fmt(v)}" for a, v in r["pfs_12_months"].items())
    )
    typer.echo(
        "  median PFS (months): "
        + ", ".join(f"{a} {fmt(v)}" for a, v in r["median_pfs_months"].items())
        + " (Stupp 2005: stupp 6.9, rt 5.0)"
    )
    for key, h in r["hazard_ratios"].items():
        if h["hazard_ratio"] is not None:
            typer.echo(f"  hazard ratio {key}: {h['hazard_ratio']:.2f}")
    typer.echo(f"  {r['seconds']:.0f} s, {fmt(r['patients_per_s'])} patients/s")
    emit_json(r)


@plans_app.command("list")
def list_cmd() -> None:
    """The shipped regimens (use their names with `compare`, `plan` and `trial`)."""
    from braintwin.plan.regimens import library

    for spec in library().values():
        rt = spec.radiotherapy
        fx = (
            f"{spec.total_dose_gy:5.1f} Gy / {rt.n_fractions:2d} fx" if rt else "   no radiotherapy"
        )
        typer.echo(f"  {spec.name:<18} {fx}  {spec.title}")
        if spec.reference:
            typer.echo(f"  {'':<18} {'':<17}  ({spec.reference})")


@plans_app.command("show")
def show_cmd(
    plan: Annotated[str, typer.Argument(help="Library name or plan file (.yaml/.json).")],
) -> None:
    """Validate a plan and show it as dated fractions and courses (from a Monday)."""
    import datetime as dt

    import yaml

    from braintwin.plan.dose import NORMAL_BRAIN_ALPHA_BETA_GY, bed, eqd2
    from braintwin.plan.regimens import resolve_plan

    spec = resolve_plan(plan)
    typer.echo(yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False))
    tp = spec.to_plan(dt.date(2024, 1, 1))  # a Monday: day numbers read as a week plan
    if tp.radiotherapy is not None:
        doses = [f.dose_gy for f in tp.radiotherapy.fractions]
        days = [f.day for f in tp.radiotherapy.fractions]
        typer.echo(
            f"radiotherapy: {len(doses)} fractions, {sum(doses):.1f} Gy, days {days[0]:g}-"
            f"{days[-1]:g}; tumour EQD2 {eqd2(doses, tp.radiotherapy.alpha_beta_gy):.1f} Gy, "
            f"normal-brain BED {bed(doses, NORMAL_BRAIN_ALPHA_BETA_GY):.1f} Gy (α/β 2 Gy)"
        )
    for c in tp.chemotherapy:
        typer.echo(f"temozolomide {c.dose_mg_m2:g} mg/m²: days {c.start_day:g}-{c.end_day:g}")


@plans_app.command("validate")
def validate_cmd(
    path: Annotated[Path, typer.Argument(help="Plan file (.yaml/.yml/.json).")],
) -> None:
    """Check a plan file against the schema (docs/plans.md); one line either way."""
    from braintwin.plan.regimens import load_plan_file

    spec = load_plan_file(path)
    typer.echo(f"{path.name}: valid plan {spec.name!r} ({spec.total_dose_gy:g} Gy)")


@plans_app.command("schema")
def schema_cmd() -> None:
    """Print the plan-file JSON schema."""
    from braintwin.plan.regimens import PlanSpec

    typer.echo(json.dumps(PlanSpec.model_json_schema(), indent=2))


def _fmt(days: float | None) -> str:
    return "  >hzn" if days is None else f"{days / 30.44:6.1f}"


def _table(rows: list[PlanSummary]) -> None:
    typer.echo(
        "  plan                 Gy  fx TMZ | TTP months: median [5%, 95%]  CVaR10 | "
        "PFS 6m  12m | brain V30 mL  mean EQD2"
    )
    for s in rows:
        p6 = "  -  " if s.p_pfs_6m is None else f"{s.p_pfs_6m:5.2f}"
        p12 = "  -  " if s.p_pfs_12m is None else f"{s.p_pfs_12m:5.2f}"
        typer.echo(
            f"  {s.name:<18} {s.total_dose_gy:5.1f} {s.n_fractions:3d} "
            f"{'yes' if s.temozolomide else ' no'} | {_fmt(s.ttp_median_days)} "
            f"[{_fmt(s.ttp_q05_days)}, {_fmt(s.ttp_q95_days)}] {s.cvar10_ttp_days / 30.44:6.1f} | "
            f"{p6} {p12} | {s.normal_brain.v30_ml:8.0f}  {s.normal_brain.mean_eqd2_gy:6.1f} Gy"
        )


def _write_outputs(cmp: PlanComparison, out: Path | None, pid: str) -> list[str]:
    if out is None:
        return []
    from braintwin.atomic import atomic_write
    from braintwin.report.plan_figures import plan_comparison_figure

    out.mkdir(parents=True, exist_ok=True)
    fig = out / f"{pid}_plans.png"
    atomic_write(fig, plan_comparison_figure(cmp.to_json()))
    data = out / f"{pid}_plans.json"
    atomic_write(data, json.dumps(cmp.to_json(), indent=1) + "\n")
    return [str(fig), str(data)]


@plans_app.command("compare")
def compare_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    plans: Annotated[
        str | None,
        typer.Option("--plans", help="Comma-separated library names or plan files; default all."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="Plan start on the twin's timeline (default: next day)."),
    ] = None,
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="Days to follow.")] = 730,
    samples: Annotated[int, typer.Option("--samples", help="Posterior samples per plan.")] = 64,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Processes (default: the usable cores).")
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="margin: visible tumour + each plan's margin; model: the model CTV of equal "
            "volume (`plans ctv`) as the dose map of every plan.",
        ),
    ] = "margin",
    allow_prior: Annotated[
        bool, typer.Option("--allow-prior", help="Compare under the prior of a one-visit twin.")
    ] = False,
    out: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Compare plans for one patient: posterior predictive volume, time to progression,
    progression-free probability at 6 and 12 months, normal-brain dose."""
    from braintwin.parallel import usable_cores
    from braintwin.twin import Twin

    twin = Twin.open(patient, store=open_store(db))
    names = [p.strip() for p in plans.split(",") if p.strip()] if plans else None
    with step_progress("plans compare") as update:
        cmp = twin.compare_plans(
            names,
            start=parse_date(start),
            horizon_days=float(horizon_days),
            n_samples=samples,
            workers=workers or usable_cores(),
            target=target,
            allow_prior=allow_prior,
            progress=update,
        )
    typer.echo(
        f"patient {twin.id}: {len(cmp.summaries)} plans from {cmp.start}, {cmp.n_samples} "
        f"posterior samples, {cmp.horizon_days:g}-day horizon ({cmp.seconds:.0f} s)"
    )
    _table(cmp.summaries)
    typer.echo(f"  progression: {cmp.definition}")
    best = cmp.best()
    typer.echo(f"  longest median time to progression: {best.name} ({best.title})")
    for note in cmp.notes:
        typer.echo(f"  note: {note}")
    files = _write_outputs(cmp, out, twin.id)
    for f in files:
        typer.echo(f"  wrote {f}")
    summary = {
        "patient": twin.id,
        "start": cmp.start.isoformat(),
        "n_samples": cmp.n_samples,
        "plans": [s.to_dict() for s in cmp.summaries],
        "seconds": cmp.seconds,
    }
    typer.echo(json.dumps(summary))


@plans_app.command("optimise")
def optimise_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            help="ttp: longest time to progression at 60 Gy; dose: least dose at equal control.",
        ),
    ] = "ttp",
    risk: Annotated[
        str, typer.Option("--risk", help="cvar (worst 10 % of samples) or mean.")
    ] = "cvar",
    reference: Annotated[
        str, typer.Option("--reference", help="Plan to beat (library name or file).")
    ] = "stupp",
    start: Annotated[
        str | None,
        typer.Option("--start", help="Plan start on the twin's timeline (default: next day)."),
    ] = None,
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="Days to follow.")] = 730,
    samples: Annotated[int, typer.Option("--samples", help="Samples for the 3D check.")] = 64,
    search_samples: Annotated[
        int, typer.Option("--search-samples", help="Samples during the search.")
    ] = 12,
    maxiter: Annotated[int, typer.Option("--maxiter", help="Optimiser generations.")] = 12,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Processes for the 3D check (default: the usable cores)."),
    ] = None,
    allow_prior: Annotated[
        bool, typer.Option("--allow-prior", help="Optimise under the prior of a one-visit twin.")
    ] = False,
    out: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Optimise fractionation and temozolomide timing for one patient, risk-aware, and check
    the result against the reference with the full model."""
    import yaml

    from braintwin.atomic import atomic_write
    from braintwin.parallel import usable_cores
    from braintwin.twin import Twin

    twin = Twin.open(patient, store=open_store(db))
    with step_progress("plans optimise") as update:
        opt = twin.optimise_plan(
            reference,
            objective=objective,
            risk=risk,
            start=parse_date(start),
            horizon_days=float(horizon_days),
            n_samples=samples,
            search_samples=search_samples,
            maxiter=maxiter,
            workers=workers or usable_cores(),
            allow_prior=allow_prior,
            progress=update,
        )
    res, ver = opt.result, opt.verification
    typer.echo(
        f"patient {twin.id}: optimised ({res.objective}, {res.risk}) against "
        f"{res.reference.name}: {res.best.title}"
    )
    typer.echo(
        f"  search: {res.evaluations} plans x {search_samples} samples "
        f"({res.seconds:.0f} s); "
        f"binding: {', '.join(res.binding) or 'none'}"
    )
    typer.echo(f"  check with the 3D model, {ver.n_samples} samples:")
    _table(ver.summaries)
    better, verdict = opt.verdict()
    typer.secho(f"  {verdict}", fg=None if better else typer.colors.YELLOW)
    for note in res.notes:
        typer.echo(f"  note: {note}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        plan_file = out / f"{res.best.name}.yaml"
        atomic_write(plan_file, yaml.safe_dump(res.best.model_dump(mode="json"), sort_keys=False))
        typer.echo(f"  wrote {plan_file} (use it with `plans compare --plans` or `plan`)")
        for f in _write_outputs(ver, out, twin.id):
            typer.echo(f"  wrote {f}")
    ref_s, best_s = ver.summaries
    typer.echo(
        json.dumps(
            {
                "patient": twin.id,
                "objective": res.objective,
                "risk": res.risk,
                "best": res.best.model_dump(mode="json"),
                "reference": ref_s.to_dict(),
                "optimised": best_s.to_dict(),
                "search": res.search,
                "binding_constraints": res.binding,
                "beats_reference_on_all_samples": better,
                "seconds": res.seconds,
            }
        )
    )
