"""CLI commands on the twin's growth model: plan, calibrate, forecast (``grow``: cli/twin.py).

Every result names the treatment plan it assumed and pairs each model compartment with the
observed region it predicts ("T1ce-visible tumour (TC)", "FLAIR-visible tumour (WT)"). Dates
are on the twin's timeline (the shifted dates `braintwin show` prints).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from braintwin.cli.core import DbOpt, open_store, parse_date
from braintwin.cli.steps import step_progress
from braintwin.errors import InputError
from braintwin.types import TreatmentPlan

if TYPE_CHECKING:
    from braintwin.twin import Twin

__all__ = [
    "PLAN_CHOICES",
    "check_horizon",
    "plan_from_name",
    "plan_line",
    "register",
    "resolve_plan",
    "target_date",
    "warn_if_stale",
]

PLAN_CHOICES = ("stupp", "rt", "hypo", "none")  # = braintwin.growth.treatment.PLANS (tested)
_PLAN_HELP = "stupp | rt | hypo | none | a library regimen (`plans list`) | PLAN.yaml/.json; default: the twin's stored plan"


def plan_from_name(name: str, start: dt.date) -> TreatmentPlan:
    """A treatment plan by name or file: the short names ``stupp``/``rt``/``hypo``/``none``
    (``growth.treatment``), a regimen of the library (`braintwin plans list`), a plan file
    (.yaml/.json, the schema of docs/plans.md) or a JSON-serialised ``TreatmentPlan``."""
    from braintwin.growth import plan_by_name
    from braintwin.plan.regimens import library, load_plan_file

    if name.lower() in PLAN_CHOICES:
        return plan_by_name(name, start)
    if name in library():
        return library()[name].to_plan(start)
    path = Path(name)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} and path.is_file():
        if path.suffix.lower() == ".json" and '"fractions"' in path.read_text()[:100_000]:
            try:  # a dated TreatmentPlan record (as stored by the twin)
                return TreatmentPlan.model_validate_json(path.read_text())
            except ValueError:
                pass  # not a TreatmentPlan: read it as a plan spec, which names the problem
        return load_plan_file(path).to_plan(start)
    raise InputError(
        f"unknown plan {name!r}",
        f"use one of {', '.join(PLAN_CHOICES)}, a library regimen (`braintwin plans list`) "
        "or a plan file (.yaml/.json)",
    )


def resolve_plan(twin: Twin, name: str | None, start: dt.date) -> tuple[TreatmentPlan | None, str]:
    """The plan a forecast assumes and where it came from: ``--plan`` if given, else the
    twin's stored plan, else untreated growth (``None``)."""
    from braintwin.twin.model import load_plan

    if name is not None:
        return plan_from_name(name, start), "given with --plan"
    stored = load_plan(twin)
    if stored is not None:
        return stored, "the twin's stored plan"
    return None, "no plan stored; set one with `braintwin plan ID stupp`"


def check_horizon(days: int | None, date: dt.date | None) -> None:
    """Refuse ``--days`` together with ``--date`` and a non-positive ``--days``."""
    if days is not None and date is not None:
        raise InputError(
            "give either --days or --date, not both",
            "--days N counts from the latest visit; --date is a day on the twin's timeline",
        )
    if days is not None and days <= 0:
        raise InputError(
            f"--days must be a positive number of days, got {days}",
            "forecasts run forward from the latest visit",
        )


def target_date(last: dt.date, days: int | None, date: dt.date | None) -> dt.date:
    """The forecast date from ``--days`` (after ``last``) or ``--date`` (90 days by default)."""
    check_horizon(days, date)
    target = date or last + dt.timedelta(days=days if days is not None else 90)
    if target <= last:
        raise InputError(
            f"the forecast date {target} is not after the latest visit {last}",
            "give a later --date, or --days N",
        )
    return target


def plan_line(plan: TreatmentPlan | None, origin: str) -> str:
    from braintwin.report.naming import plan_summary

    return f"  plan: {plan_summary(plan)} ({origin})"


def warn_if_stale(twin: Twin) -> None:
    from braintwin.twin.state import model_status

    status = model_status(twin)
    if status.stale:
        typer.secho(
            f"  warning: {status.reason}; run `braintwin update {twin.id}`",
            fg=typer.colors.YELLOW,
        )


def register(app: typer.Typer) -> None:
    """Add plan, calibrate and forecast to ``app``."""
    app.command("plan")(plan_cmd)
    app.command("calibrate")(calibrate_cmd)
    app.command("forecast")(forecast_cmd)


def plan_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    plan: Annotated[str, typer.Argument(help="stupp | hypo | none | PLAN.json")],
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="First treatment day on the twin's timeline (as `show` prints it); "
            "default: day after the latest visit.",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Set the twin's treatment plan (used by calibration, forecast and grow)."""
    from braintwin.report.naming import plan_summary
    from braintwin.twin import Twin
    from braintwin.twin.model import save_plan

    twin = Twin.open(patient, store=open_store(db))
    day0 = parse_date(start) or twin.visit_dates()[-1] + dt.timedelta(days=1)
    tp = plan_from_name(plan, day0)
    save_plan(twin, tp)
    typer.echo(f"patient {twin.id}: plan {plan_summary(tp)}")


def calibrate_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    db: DbOpt = None,
) -> None:
    """Calibrate the growth model to all segmented visits (Bayesian posterior, stored)."""
    from braintwin.report.naming import compartment_label
    from braintwin.twin import Twin
    from braintwin.twin.model import calibrate_twin, load_plan

    twin = Twin.open(patient, store=open_store(db))
    plan = load_plan(twin)
    with step_progress("calibrate") as update:
        post = calibrate_twin(twin, progress=update)
    typer.echo(
        f"patient {twin.id}: posterior from {len(post.visit_dates)} visit(s) ({post.source})"
    )
    typer.echo(plan_line(plan, "the twin's stored plan" if plan else "no plan stored: untreated"))
    typer.echo(
        f"  fitted: {compartment_label('enhancing')} and {compartment_label('flair')} "
        "to the observed regions"
    )
    for name, summ in post.summary().items():
        lo50, hi50 = summ["interval_50"]
        lo90, hi90 = summ["interval_90"]
        typer.echo(
            f"  {name:<6} median {summ['median']:.4g} {summ['unit']}  "
            f"50% [{lo50:.4g}, {hi50:.4g}]  90% [{lo90:.4g}, {hi90:.4g}]"
        )
    for note in post.notes:
        typer.echo(f"  note: {note}")


def forecast_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    days: Annotated[
        int | None,
        typer.Option("--days", help="Days after the latest visit (> 0; default 90)."),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--date", help="Target date on the twin's timeline (instead of --days)."),
    ] = None,
    plan: Annotated[str | None, typer.Option("--plan", help=_PLAN_HELP)] = None,
    credibility: Annotated[
        float, typer.Option(help="Probability level of the predicted masks.")
    ] = 0.5,
    db: DbOpt = None,
) -> None:
    """Forecast the tumour (probability maps, volume bands, time to progression)."""
    from braintwin.report.naming import compartment_label
    from braintwin.twin import Twin
    from braintwin.twin.model import forecast_twin

    check_horizon(days, parse_date(date))  # before opening anything
    twin = Twin.open(patient, store=open_store(db))
    last = twin.visit_dates()[-1]
    target = target_date(last, days, parse_date(date))
    tp, origin = resolve_plan(twin, plan, last + dt.timedelta(days=1))
    with step_progress("forecast") as update:
        fc = forecast_twin(
            twin,
            target,
            plan=tp,
            use_stored_plan=False,  # resolve_plan already chose it (None: untreated)
            plan_origin=origin,
            credibility=credibility,
            progress=update,
        )
    typer.echo(f"patient {twin.id}: forecast for {fc.date} from {fc.start} ({fc.source})")
    typer.echo(plan_line(tp, origin))
    warn_if_stale(twin)
    for compartment, bands in fc.volume_ml.items():
        q = {k: float(v[-1]) for k, v in bands.items()}
        typer.echo(
            f"  {compartment_label(compartment):<28} median {q['q50']:.1f} mL  "
            f"50% [{q['q25']:.1f}, {q['q75']:.1f}]  90% [{q['q05']:.1f}, {q['q95']:.1f}]"
        )
    prog = fc.progression
    if prog:
        median = prog.get("median_days")
        when = f"median {median:.0f} days" if median is not None else "median beyond the horizon"
        typer.echo(
            f"  progression ({compartment_label('enhancing')} volume >= "
            f"{prog['volume_ratio_threshold']:.2f}x today's) by {fc.date}: "
            f"probability {prog['p_progression_by_date']:.2f}; {when}"
        )
    for note in fc.notes:
        typer.echo(f"  note: {note}")
