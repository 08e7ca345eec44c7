"""``braintwin import fhir BUNDLE --patient ID`` and ``braintwin export fhir ID``.

Thin: the twin does the work (:mod:`braintwin.twin.clinical`, :mod:`braintwin.twin.fhir_export`);
this prints what was stored and where the bundle went. Nothing printed carries an identifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.core import DbOpt, open_store
from braintwin.cli.groups import export_app, import_app

__all__ = ["register"]


def import_fhir_cmd(
    bundle: Annotated[Path, typer.Argument(help="FHIR R4 Bundle (JSON) of one patient.")],
    patient: Annotated[
        str, typer.Option("--patient", "-p", help="Patient identifier (or pseudonym).")
    ],
    db: DbOpt = None,
) -> None:
    """Import a patient's clinical course (diagnosis, surgery, radiotherapy, temozolomide,
    KPS/ECOG, MGMT, IDH) from a FHIR R4 bundle; real dates are shifted like ingest's."""
    from braintwin.clinical.summary import course_lines
    from braintwin.report.naming import plan_summary
    from braintwin.twin.clinical import import_fhir

    result = import_fhir(open_store(db), bundle, patient)
    verb = "imported" if result.action == "stored" else "unchanged (this course is already stored)"
    typer.echo(f"patient {result.twin.id}: clinical course {verb}; dates shifted")
    for line in course_lines(result.course):
        typer.echo(line)
    if result.plan is not None:
        typer.echo(f"  treatment plan: {plan_summary(result.plan)}")
    for note in result.notes:
        typer.secho(f"  note: {note}", fg=typer.colors.YELLOW)


def export_fhir_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Bundle file (default: <pseudonym>.fhir.json)."),
    ] = None,
    identified: Annotated[
        bool,
        typer.Option(
            "--identified",
            help="Real identifier and real dates (give the real ID, not the pseudonym).",
        ),
    ] = False,
    db: DbOpt = None,
) -> None:
    """Write the twin as a FHIR R4 Bundle: clinical course, per-visit DiagnosticReports with
    volumes / response / tumour type, forecast and plan comparison, Provenance."""
    from braintwin.atomic import atomic_write
    from braintwin.twin import Twin
    from braintwin.twin.fhir_export import bundle_json, export_fhir

    twin = Twin.open(patient, store=open_store(db))
    bundle = export_fhir(twin, identified=identified, given_id=patient)
    path = out or Path(f"{twin.id}.fhir.json")
    atomic_write(path, bundle_json(bundle))
    kinds: dict[str, int] = {}
    for e in bundle.entry or []:
        if e.resource is not None:
            kind = str(e.resource.get_resource_type())
            kinds[kind] = kinds.get(kind, 0) + 1
    what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    label = "identified, real dates" if identified else "pseudonymised, shifted dates"
    typer.echo(f"patient {twin.id}: wrote {path} ({label}): {what}")


def register(app: typer.Typer) -> None:
    """Add ``import fhir`` and ``export fhir`` to their groups."""
    del app
    import_app.command("fhir")(import_fhir_cmd)
    export_app.command("fhir")(export_fhir_cmd)
