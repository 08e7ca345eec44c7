"""BIDS on the command line: ``braintwin export bids ID DIR`` and the BIDS branch of ``ingest``.

``braintwin ingest`` hands a BIDS dataset root, ``sub-*`` or ``sub-*/ses-*`` folder to
:func:`ingest_bids_command` (one session = one visit; see docs/bids.md). Output names sessions
by their position ("session 2 of 3"), never by the subject label.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from braintwin.cli.core import ACTIONS, DbOpt, echo_model_status, open_store, progress_bar
from braintwin.cli.groups import export_app

__all__ = ["ingest_bids_command", "register"]


def ingest_bids_command(
    path: Path,
    patient: str,
    date: dt.date | None,
    *,
    db: str | None,
    options: Any,
    subject: str | None,
    session: str | None,
    run: int | None,
    seg_from: str | None,
    replace: bool,
) -> None:
    """Ingest one BIDS subject (all its sessions, or the one picked) and print one line each."""
    from braintwin.twin import Twin
    from braintwin.twin.bids_ingest import BidsSelection, ingest_bids

    twin = Twin.open(patient, store=open_store(db), create=True)
    selection = BidsSelection(subject=subject, session=session, run=run, seg_pipeline=seg_from)
    with progress_bar("ingest") as update:
        out = ingest_bids(
            twin,
            path,
            date=date,
            options=options,
            selection=selection,
            progress=update,
            replace=replace,
        )
    n = len(out.results)
    for i, result in enumerate(out.results):
        mods = ", ".join(m.value for m in result.modalities)
        typer.echo(
            f"patient {twin.id}: session {i + 1} of {n} -> visit {result.date} "
            f"{ACTIONS[result.action]} [{mods}]"
        )
        for flag in result.flags:
            typer.secho(f"  note: {flag}", fg=typer.colors.YELLOW)
        for note in result.model_notes:
            typer.echo(f"  model: {note}")
    for warning in out.warnings:
        typer.secho(f"  note: {warning}", fg=typer.colors.YELLOW)
    echo_model_status(twin)


def register(app: typer.Typer) -> None:
    """Add ``export bids`` to the export group (``app`` is the root, unused here)."""
    del app

    @export_app.command("bids")
    def export_bids_cmd(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        out: Annotated[Path, typer.Argument(help="New or empty folder for the BIDS dataset.")],
        force: Annotated[
            bool, typer.Option("--force", help="Replace an earlier braintwin export in OUT.")
        ] = False,
        db: DbOpt = None,
    ) -> None:
        """Write the twin as a BIDS dataset: preprocessed images per session and, under
        derivatives/braintwin, segmentations, brain masks and forecast probability maps."""
        from braintwin.twin import Twin
        from braintwin.twin.bids_export import export_bids

        twin = Twin.open(patient, store=open_store(db))
        result = export_bids(twin, out, force=force)
        typer.echo(
            f"patient {twin.id}: wrote BIDS dataset {result.path} (sub-{result.participant}, "
            f"{result.sessions} session(s), {result.forecasts} forecast(s), {result.files} files)"
        )
