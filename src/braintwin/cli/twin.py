"""CLI commands that act on a stored twin: segment, measure, grow (and, registered from
:mod:`braintwin.cli.twin_model`, plan, calibrate and forecast).

Dates here are on the twin's timeline, i.e. the shifted dates `braintwin show` prints; only
`braintwin ingest --date` takes a real date (which it shifts).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from braintwin.atomic import atomic_write
from braintwin.cli import twin_model
from braintwin.cli.core import DbOpt, open_store, parse_date
from braintwin.cli.steps import step_progress

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the twin commands to ``app``."""
    _register_measure(app)
    twin_model.register(app)
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
        import_file: Annotated[
            Path | None,
            typer.Option(
                "--import",
                help="Use this expert or corrected label file (BraTS labels or a binary "
                "enhancing mask, on the grid of one of the visit's images or the twin's grid) "
                "instead of segmenting.",
            ),
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """Segment a stored visit (tumour labels 1/2/4), measure it and store the result."""
        from braintwin.cli.core import echo_model_status
        from braintwin.measure import stored_observable
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        date = parse_date(visit)
        flags: list[str] = []
        with step_progress("segment") as update:
            if import_file is not None:
                method = "expert"
                update(f"importing {import_file.name}", 0.1)
                twin.import_segmentation(import_file, date)
            else:
                update(
                    f"segmenting with {method}" + (" (+ uncertainty)" if uncertainty else ""), 0.1
                )
                flags = twin.segment(date, method=method, uncertainty=uncertainty)
            update("reading the stored result", 0.9)
            v = twin.visit(date)
        what = "imported" if import_file is not None else f"segmented with {method}"
        typer.echo(f"patient {twin.id}: visit {v.date} segmentation {what}")
        seen = stored_observable(v.meta, v.modalities)
        for region in ("WT", "TC", "ET"):
            m = v.measurements.get(region)
            if m and region in seen:
                typer.echo(f"  {region}: {m['volume_ml']:.2f} mL")
            elif m:
                typer.echo(f"  {region}: not observable without a T1ce image")
        unc = v.extras.get("uncertainty")
        if unc is not None:
            typer.echo(f"  uncertainty map stored (max {float(unc.data.max()):.2f}; 0-1 scale)")
        for f in flags:
            typer.secho(f"  note: {f}", fg=typer.colors.YELLOW)
        if export is not None:
            from braintwin.twin.exports import export_visit

            for p in export_visit(v, export, patient_id=twin.id):
                typer.echo(f"  wrote {p}")
        echo_model_status(twin)


def _response_lines(twin: Any, date: dt.date) -> list[str]:
    """RANO-style response of the visit on ``date`` against the earlier visits (baseline for
    PR, nadir for PD; visits without T1ce never count as 0 enhancing tumour)."""
    from braintwin.measure import assess_response
    from braintwin.twin.state import response_series

    series = response_series(twin, date)
    if len(series) < 2 or series[-1].label != str(date):
        return []
    resp = assess_response(series)["response"]
    parts = []
    if resp["spd_change_percent"] is not None:
        parts.append(f"SPD of the enhancing lesions {resp['spd_change_percent']:+.0f} %")
    if resp["nonenhancing_change_percent"] is not None:
        parts.append(f"WT volume {resp['nonenhancing_change_percent']:+.0f} %")
    ref = resp["compared_with"]
    role = "nadir" if ref == resp["nadir"] and ref != resp["baseline"] else "baseline"
    if resp["baseline"] is None:
        role = "previous visit"
    lines = [
        f"  RANO-style response {resp['category']} against the {role} {ref}"
        + (f" ({'; '.join(parts)})" if parts else "")
    ]
    lines += [f"    {r}" for r in resp["reasons"][1:]]
    if resp["category"] == "NE":
        lines.append(f"    {resp['reasons'][0]}")
    return lines


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
        """Tumour measurements of a visit (mL, diameters, RANO product) and its RANO-style
        response against the earlier visits."""
        from braintwin.errors import NotFoundError
        from braintwin.measure import (
            measurements_table,
            radiomics_table,
            stored_observable,
            write_table,
        )
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        v = twin.visit(parse_date(visit))
        if not v.measurements or v.segmentation is None:
            raise NotFoundError(
                f"visit {v.date} is not segmented", "run `braintwin segment ID` first"
            )
        seen = stored_observable(v.meta, v.modalities)
        typer.echo(f"patient {twin.id}: visit {v.date}")
        typer.echo(f"  {'region':<9} {'mL':>8} {'max diam mm':>12} {'bidim mm²':>10}")
        for region, m in v.measurements.items():
            if region not in seen:
                typer.echo(f"  {region:<9} {'not observable without a T1ce image':>32}")
                continue
            diam = m.get("largest_diameter_mm") or 0.0
            typer.echo(
                f"  {region:<9} {m['volume_ml']:8.2f} {diam:12.1f} "
                f"{m.get('bidimensional_mm2') or 0:10.0f}"
            )
        for line in _response_lines(twin, v.date):
            typer.echo(line)
        if table is not None:
            rows = measurements_table(v.measurements, date=str(v.date))
            typer.echo(f"  wrote {write_table(rows, table)}")
        if radiomics is not None:
            rows = radiomics_table(v.volumes, v.segmentation)
            typer.echo(f"  wrote {write_table(rows, radiomics)}")


def _register_grow(app: typer.Typer) -> None:
    @app.command("grow")
    def grow_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        until: Annotated[
            str, typer.Option("--until", help="End date on the twin's timeline (YYYY-MM-DD).")
        ],
        plan: Annotated[
            str | None,
            typer.Option(
                "--plan",
                help="stupp | hypo | none (untreated) | PLAN.json; default: the stored plan",
            ),
        ] = None,
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
        geometric mean before any calibration; the plan defaults to the twin's stored plan,
        like `forecast` (`--plan none`: untreated growth). Both are said in the output.
        """
        import json
        import math

        from braintwin.errors import InputError, NotFoundError
        from braintwin.growth import PRIORS, GrowthParameters, grow_from_segmentation
        from braintwin.io import save_nifti
        from braintwin.report.naming import compartment_label, compartment_region, plan_summary
        from braintwin.twin import Twin
        from braintwin.twin.model import latest_posterior

        twin = Twin.open(patient, store=open_store(db))
        v = twin.visit()
        seg = v.segmentation or v.extras.get("reference_seg")
        if seg is None or v.brain_mask is None:
            raise NotFoundError(f"visit {v.date} has no segmentation", "run `braintwin segment ID`")
        end = parse_date(until) or v.date
        if end <= v.date:
            raise InputError(
                f"--until {end} is not after the latest visit {v.date}", "give a later date"
            )
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
        tp, plan_origin = twin_model.resolve_plan(twin, plan, v.date + dt.timedelta(days=1))
        with step_progress("grow") as update:
            run = grow_from_segmentation(
                seg, v.brain_mask, params, tp, v.date, end, progress=update
            )
        folder = out or Path(twin.store.home) / "outputs" / twin.id / f"grow-{end}"
        folder.mkdir(parents=True, exist_ok=True)
        written = [save_nifti(run.final, folder / "density.nii.gz")]
        for name, mask in run.masks.items():
            written.append(save_nifti(mask, folder / f"predicted_{name}.nii.gz"))
        written.append(run.save_plot(folder / "volume.png"))
        summary = {
            **run.summary(),
            "parameters_from": origin,
            "plan": plan_summary(tp),
            "plan_origin": plan_origin,
            # which observed region each predicted mask / volume curve corresponds to
            "compartment_regions": {c: compartment_region(c) for c in ("enhancing", "flair")},
        }
        summary_path = folder / "summary.json"
        atomic_write(summary_path, json.dumps(summary, indent=1))
        written.append(summary_path)
        typer.echo(f"patient {twin.id}: grew from {v.date} to {end}")
        typer.echo(twin_model.plan_line(tp, plan_origin))
        typer.echo(
            f"  parameters ({origin}): " + ", ".join(f"{k}={x:.4g}" for k, x in values.items())
        )
        twin_model.warn_if_stale(twin)
        for name, curve in (("enhancing", run.enhancing_ml), ("flair", run.flair_ml)):
            typer.echo(
                f"  {compartment_label(name):<28} {curve[0]:.1f} -> {curve[-1]:.1f} mL "
                f"(predicted_{name}.nii.gz)"
            )
        for p in written:
            typer.echo(f"  wrote {p}")
