"""CLI commands that act on a stored twin: segment, measure, plan, calibrate, forecast.

Dates here are on the twin's timeline, i.e. the shifted dates `braintwin show` prints; only
`braintwin ingest --date` takes a real date (which it shifts).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from braintwin.atomic import atomic_write
from braintwin.cli.core import DbOpt, open_store, parse_date
from braintwin.errors import InputError
from braintwin.types import TreatmentPlan

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the twin commands to ``app``."""
    _register_measure(app)
    _register_model(app)
    _register_grow(app)

    @app.command("segment")
    def segment_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        visit: Annotated[
            str | None, typer.Option("--visit", help="Stored visit date (default: latest).")
        ] = None,
        method: Annotated[str, typer.Option("--method", help="unet | kmeans | gmm")] = "unet",
        uncertainty: Annotated[
            bool,
            typer.Option(
                "--uncertainty", help="Also store a test-time-augmentation uncertainty map."
            ),
        ] = False,
        export: Annotated[
            Path | None,
            typer.Option("--export", help="Also write NIfTI, DICOM-SEG and STL meshes here."),
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """Segment a stored visit (tumour labels 1/2/4), measure it and store the result."""
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        date = parse_date(visit)
        flags = twin.segment(date, method=method, uncertainty=uncertainty)
        v = twin.visit(date)
        typer.echo(f"patient {twin.id}: visit {v.date} segmented with {method}")
        for region in ("WT", "TC", "ET"):
            m = v.measurements.get(region)
            if m:
                typer.echo(f"  {region}: {m['volume_ml']:.2f} mL")
        for f in flags:
            typer.secho(f"  note: {f}", fg=typer.colors.YELLOW)
        if export is not None:
            from braintwin.twin.exports import export_visit

            for p in export_visit(v, export):
                typer.echo(f"  wrote {p}")


def _percent(value: float | None) -> str:
    return "" if value is None else f"(sum of products {value:+.1f} %)"


def _register_measure(app: typer.Typer) -> None:
    @app.command("measure")
    def measure_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        visit: Annotated[
            str | None, typer.Option("--visit", help="Stored visit date (default: latest).")
        ] = None,
        radiomics: Annotated[
            Path | None, typer.Option("--radiomics", help="Write a radiomics table (CSV) here.")
        ] = None,
        table: Annotated[
            Path | None,
            typer.Option("--table", help="Write the measurements table (CSV or JSON) here."),
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """Tumour measurements of a visit (mL, diameters, RANO product) and change since the previous visit."""
        from braintwin.errors import NotFoundError
        from braintwin.measure import (
            compare_measurements,
            measurements_table,
            radiomics_table,
            write_table,
        )
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        v = twin.visit(parse_date(visit))
        if not v.measurements or v.segmentation is None:
            raise NotFoundError(
                f"visit {v.date} is not segmented", "run `braintwin segment ID` first"
            )
        typer.echo(f"patient {twin.id}: visit {v.date}")
        typer.echo(f"  {'region':<9} {'mL':>8} {'max diam mm':>12} {'bidim mm²':>10}")
        for region, m in v.measurements.items():
            diam = m.get("largest_diameter_mm") or 0.0
            typer.echo(
                f"  {region:<9} {m['volume_ml']:8.2f} {diam:12.1f} {m.get('bidimensional_mm2') or 0:10.0f}"
            )
        dates = twin.visit_dates()
        earlier = [d for d in dates if d < v.date]
        if earlier:
            prev = twin.store.visit_record(twin.id, earlier[-1])["measurements"]
            if prev:
                change = compare_measurements(prev, v.measurements)
                resp = change["response"]
                typer.echo(
                    f"  since {earlier[-1]}: RANO-style response {resp['category']} "
                    + _percent(resp.get("spd_change_percent"))
                )
        if table is not None:
            rows = measurements_table(v.measurements, date=str(v.date))
            typer.echo(f"  wrote {write_table(rows, table)}")
        if radiomics is not None:
            rows = radiomics_table(v.volumes, v.segmentation)
            typer.echo(f"  wrote {write_table(rows, radiomics)}")


PLAN_CHOICES = ("stupp", "hypo", "none")  # braintwin.growth.treatment.PLANS


def plan_from_name(name: str, start: dt.date) -> TreatmentPlan:
    """A treatment plan by name (``stupp``: 60 Gy/30 fr + temozolomide; ``hypo``: 40 Gy/15 fr;
    ``none``) or from a JSON file holding a ``TreatmentPlan``."""
    from braintwin.growth import plan_by_name

    if name.lower() in PLAN_CHOICES:
        return plan_by_name(name, start)
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        try:
            return TreatmentPlan.model_validate_json(path.read_text())
        except ValueError as err:
            raise InputError(f"invalid treatment plan file {path.name}: {err}") from None
    raise InputError(
        f"unknown plan {name!r}", f"use one of {', '.join(PLAN_CHOICES)} or a plan .json file"
    )


def _register_model(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        plan: Annotated[str, typer.Argument(help="stupp | hypo | none | PLAN.json")],
        start: Annotated[
            str | None,
            typer.Option(
                "--start",
                help="First treatment day on the twin's timeline (as `show` prints it); default: day after the latest visit.",
            ),
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """Set the twin's treatment plan (used by calibration and forecasts)."""
        from braintwin.twin import Twin
        from braintwin.twin.model import save_plan

        twin = Twin.open(patient, store=open_store(db))
        day0 = parse_date(start) or twin.visit_dates()[-1] + dt.timedelta(days=1)
        tp = plan_from_name(plan, day0)
        save_plan(twin, tp)
        rt = tp.radiotherapy
        what = (
            f"{rt.total_dose_gy:.0f} Gy in {len(rt.fractions)} fractions"
            if rt
            else "no radiotherapy"
        )
        chemo = f", {len(tp.chemotherapy)} chemotherapy course(s)" if tp.chemotherapy else ""
        typer.echo(f"patient {twin.id}: plan {tp.name!r} from {tp.start}: {what}{chemo}")

    @app.command("calibrate")
    def calibrate_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        db: DbOpt = None,
    ) -> None:
        """Calibrate the growth model to all segmented visits (Bayesian posterior, stored)."""
        from braintwin.cli.core import progress_bar
        from braintwin.twin import Twin
        from braintwin.twin.model import calibrate_twin

        twin = Twin.open(patient, store=open_store(db))
        with progress_bar("calibrate") as update:
            post = calibrate_twin(twin, progress=update)
        typer.echo(
            f"patient {twin.id}: posterior from {len(post.visit_dates)} visit(s) ({post.source})"
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

    @app.command("forecast")
    def forecast_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        days: Annotated[
            int | None, typer.Option("--days", help="Days after the latest visit.")
        ] = None,
        date: Annotated[
            str | None, typer.Option("--date", help="Target date on the twin's timeline.")
        ] = None,
        plan: Annotated[
            str | None,
            typer.Option(
                "--plan",
                help="Override the stored plan: stupp | hypo | none | PLAN.json",
            ),
        ] = None,
        credibility: Annotated[
            float, typer.Option(help="Probability level of the predicted masks.")
        ] = 0.5,
        db: DbOpt = None,
    ) -> None:
        """Forecast the tumour (probability maps, volume bands, time to progression)."""
        from braintwin.cli.core import progress_bar
        from braintwin.twin import Twin
        from braintwin.twin.model import forecast_twin

        twin = Twin.open(patient, store=open_store(db))
        last = twin.visit_dates()[-1]
        target = parse_date(date) or last + dt.timedelta(days=days if days is not None else 90)
        tp = plan_from_name(plan, last + dt.timedelta(days=1)) if plan else None
        with progress_bar("forecast") as update:
            fc = forecast_twin(twin, target, plan=tp, credibility=credibility, progress=update)
        typer.echo(f"patient {twin.id}: forecast for {fc.date} from {fc.start} ({fc.source})")
        for region, bands in fc.volume_ml.items():
            q = {k: float(v[-1]) for k, v in bands.items()}
            typer.echo(
                f"  {region:<9} median {q['q50']:.1f} mL  50% [{q['q25']:.1f}, {q['q75']:.1f}]"
                f"  90% [{q['q05']:.1f}, {q['q95']:.1f}]"
            )
        prog = fc.progression
        if prog:
            median = prog.get("median_days")
            when = (
                f"median {median:.0f} days" if median is not None else "median beyond the horizon"
            )
            typer.echo(
                f"  progression (enhancing volume >= {prog['volume_ratio_threshold']:.2f}x today's) "
                f"by {fc.date}: probability {prog['p_progression_by_date']:.2f}; {when}"
            )
        for note in fc.notes:
            typer.echo(f"  note: {note}")


def _register_grow(app: typer.Typer) -> None:
    @app.command("grow")
    def grow_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        until: Annotated[
            str, typer.Option("--until", help="End date on the twin's timeline (YYYY-MM-DD).")
        ],
        plan: Annotated[
            str, typer.Option("--plan", help="stupp | hypo | none | PLAN.json")
        ] = "none",
        d_w: Annotated[
            float | None,
            typer.Option(
                "--D-w", help="White-matter diffusivity (mm²/day); default: posterior median."
            ),
        ] = None,
        rho: Annotated[
            float | None,
            typer.Option("--rho", help="Proliferation rate (1/day); default: posterior median."),
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
        db: DbOpt = None,
    ) -> None:
        """Forward run of the growth model from the latest visit: density, masks, volume plot.

        Parameters default to the twin's posterior median, or to the literature prior's
        geometric mean before any calibration (said in the output).
        """
        import json
        import math

        from braintwin.cli.core import progress_bar
        from braintwin.errors import NotFoundError
        from braintwin.growth import PRIORS, GrowthParameters, grow_from_segmentation
        from braintwin.io import save_nifti
        from braintwin.twin import Twin
        from braintwin.twin.model import latest_posterior

        twin = Twin.open(patient, store=open_store(db))
        v = twin.visit()
        seg = v.segmentation or v.extras.get("reference_seg")
        if seg is None or v.brain_mask is None:
            raise NotFoundError(f"visit {v.date} has no segmentation", "run `braintwin segment ID`")
        end = parse_date(until) or v.date
        post = latest_posterior(twin)
        if post is not None:
            medians = {k: s["median"] for k, s in post.summary().items()}
            origin = f"posterior median ({post.source}, {len(post.visit_dates)} visit(s))"
        else:
            medians = {k: math.sqrt(lo * hi) for k, (lo, hi, _) in PRIORS.items() if lo != hi}
            origin = "literature prior geometric mean (twin not calibrated yet)"
        values = {k: medians[k] for k in ("D_w", "rho", "alpha") if k in medians}
        if d_w is not None:
            values["D_w"] = d_w
        if rho is not None:
            values["rho"] = rho
        params = GrowthParameters(**values)
        tp = plan_from_name(plan, v.date + dt.timedelta(days=1))
        with progress_bar("grow") as update:
            run = grow_from_segmentation(
                seg, v.brain_mask, params, tp, v.date, end, progress=update
            )
        folder = out or Path(twin.store.home) / "outputs" / twin.id / f"grow-{end}"
        folder.mkdir(parents=True, exist_ok=True)
        written = [save_nifti(run.final, folder / "density.nii.gz")]
        for name, mask in run.masks.items():
            written.append(save_nifti(mask, folder / f"predicted_{name}.nii.gz"))
        written.append(run.save_plot(folder / "volume.png"))
        summary_path = folder / "summary.json"
        atomic_write(
            summary_path, json.dumps({**run.summary(), "parameters_from": origin}, indent=1)
        )
        written.append(summary_path)
        typer.echo(f"patient {twin.id}: grew from {v.date} to {end} with plan {tp.name!r}")
        typer.echo(
            f"  parameters ({origin}): " + ", ".join(f"{k}={x:.4g}" for k, x in values.items())
        )
        typer.echo(
            f"  enhancing {run.enhancing_ml[0]:.1f} -> {run.enhancing_ml[-1]:.1f} mL, "
            f"FLAIR-visible {run.flair_ml[0]:.1f} -> {run.flair_ml[-1]:.1f} mL"
        )
        for p in written:
            typer.echo(f"  wrote {p}")
