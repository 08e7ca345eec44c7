"""CLI commands that act on a stored twin: segment (and later grow, forecast)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.core import DbOpt, open_store, parse_date

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the twin commands to ``app``."""
    _register_measure(app)

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
                    f"(sum of products {resp.get('spd_change_percent')} %)"
                )
        if table is not None:
            rows = measurements_table(v.measurements, date=str(v.date))
            typer.echo(f"  wrote {write_table(rows, table)}")
        if radiomics is not None:
            rows = radiomics_table(v.volumes, v.segmentation)
            typer.echo(f"  wrote {write_table(rows, radiomics)}")
