"""CLI commands that act on a stored twin: segment (and later grow, forecast)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.core import DbOpt, open_store, parse_date

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the twin commands to ``app``."""

    @app.command("segment")
    def segment_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        visit: Annotated[str | None, typer.Option("--visit", help="Stored visit date (default: latest).")] = None,
        method: Annotated[str, typer.Option("--method", help="unet | kmeans | gmm")] = "unet",
        uncertainty: Annotated[bool, typer.Option("--uncertainty", help="Also store a test-time-augmentation uncertainty map.")] = False,
        export: Annotated[Path | None, typer.Option("--export", help="Also write NIfTI, DICOM-SEG and STL meshes here.")] = None,
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
