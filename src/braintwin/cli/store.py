"""``braintwin store gc`` and ``braintwin store verify``: the store's hygiene from the shell.

``gc`` removes what killed writes left behind (orphan objects, stale staging folders,
temporary files) and prints each path it removed (``--dry-run``: what it would remove).
``verify`` checks every stored volume against its checksum and looks for leftovers; it prints
a summary and exits with status 2 when something is wrong. Both end with one JSON line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from braintwin.cli.groups import emit_json

if TYPE_CHECKING:
    from braintwin.store import Store

__all__ = ["register"]

store_app = typer.Typer(help="Maintain the store: remove leftovers (gc), check it (verify).")

_DB = typer.Option("--db", help="Database URL (default: SQLite under $BRAINTWIN_HOME).")


def _open(db: str | None) -> Store:
    from braintwin.store import Store

    # As found: the automatic clean-up on open would hide what verify and gc should report.
    return Store.open(url=db, tidy=False)


@store_app.command("gc")
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    db: Annotated[str | None, _DB] = None,
) -> None:
    """Remove orphan objects, stale staging folders and temporary files of killed writes, and
    the viewer's display renditions of volumes no longer stored."""
    with _open(db) as store:
        report = store.gc(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for group, paths in (
        ("orphan object", report.orphan_objects),
        ("staging folder", report.staging),
        ("temporary file", report.temp_files),
        ("display rendition of a removed volume", report.stale_renditions),
    ):
        for path in paths:
            typer.echo(f"{verb} {group}: {path}")
    mb = report.bytes_freed / 1e6
    typer.echo(f"{verb} {report.removed} item(s), {mb:.1f} MB" if report.removed else "clean")
    emit_json(report.to_dict())


@store_app.command("verify")
def verify(db: Annotated[str | None, _DB] = None) -> None:
    """Check every stored volume (exists, checksum) and look for orphans and leftovers."""
    with _open(db) as store:
        report = store.verify()
    typer.echo(f"{report.volume_rows} volume rows, {report.objects_checked} object files checked")
    problems = (
        ("missing object", report.missing),
        ("corrupt object", report.corrupt),
        ("orphan object", report.orphan_objects),
        ("temporary file", report.temp_files),
        ("staging leftover", report.staging),
    )
    for what, paths in problems:
        for path in paths:
            typer.secho(f"{what}: {path}", fg=typer.colors.RED)
    for path in report.not_private:
        typer.secho(f"warning: readable by other users: {path}", fg=typer.colors.YELLOW)
    if report.staging_in_use:
        typer.echo(f"{len(report.staging_in_use)} write(s) in progress (not a problem)")
    if report.ok:
        typer.echo("ok")
    else:
        n = sum(len(paths) for _, paths in problems)
        typer.secho(
            f"{n} problem(s): run `braintwin store gc` for leftovers; re-ingest visits "
            "whose objects are missing or corrupt",
            fg=typer.colors.RED,
        )
    emit_json(report.to_dict())
    if not report.ok:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add the ``store`` command group to ``app``."""
    app.add_typer(store_app, name="store")
