"""CLI: ``braintwin export dicom ID DIR [--stow URL]`` — results back to PACS. Thin: parse,
call ``twin.pacs`` and ``io.dicomweb``, print.

Credentials come from the environment or options and are never printed: ``--user`` (or
``$BRAINTWIN_DICOMWEB_USER``) with the password in ``$BRAINTWIN_DICOMWEB_PASSWORD`` (a password
on the command line would be visible to every user of the machine), or a bearer token in
``$BRAINTWIN_DICOMWEB_TOKEN`` (``--token-env NAME`` reads another variable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from braintwin.cli.core import DbOpt, open_store
from braintwin.cli.groups import emit_json, export_app
from braintwin.errors import ConfigurationError

if TYPE_CHECKING:
    from braintwin.io.dicomweb import DicomWebAuth

__all__ = ["export_dicom_cmd", "register"]

URL_ENV = "BRAINTWIN_DICOMWEB_URL"
USER_ENV = "BRAINTWIN_DICOMWEB_USER"
PASSWORD_ENV = "BRAINTWIN_DICOMWEB_PASSWORD"
TOKEN_ENV = "BRAINTWIN_DICOMWEB_TOKEN"
CA_ENV = "BRAINTWIN_DICOMWEB_CA"


def register(app: typer.Typer) -> None:
    """Add ``export dicom`` to the shared export group."""
    export_app.command("dicom")(export_dicom_cmd)


def _is_image(name: str) -> bool:
    return name.startswith("images/") or "/reference/" in name


def _auth(user: str | None, token_env: str) -> DicomWebAuth | None:
    from braintwin.io.dicomweb import DicomWebAuth

    token = os.environ.get(token_env) or None
    user = user or os.environ.get(USER_ENV) or None
    if token and user:
        raise ConfigurationError(
            "both a bearer token and a user name are set for DICOMweb",
            f"use one: unset ${token_env} or ${USER_ENV}",
        )
    if user:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            raise ConfigurationError(
                "a DICOMweb user is given but no password",
                f"set ${PASSWORD_ENV} (never on the command line)",
            )
        return DicomWebAuth(user=user, password=password)
    return DicomWebAuth(token=token) if token else None


def export_dicom_cmd(
    patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
    out: Annotated[Path, typer.Argument(help="Folder for the .dcm files (created).")],
    stow: Annotated[
        str | None,
        typer.Option(
            "--stow",
            help=f"DICOMweb root to push to with STOW-RS (default ${URL_ENV}; none: no push).",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help=f"HTTP basic user (password in ${PASSWORD_ENV})."),
    ] = None,
    token_env: Annotated[
        str,
        typer.Option("--token-env", help="Environment variable holding a bearer token."),
    ] = TOKEN_ENV,
    pdf: Annotated[
        Path | None,
        typer.Option("--pdf", help="Report PDF to encapsulate (default: the twin's own)."),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="The visits' original DICOM folder: also write (and push) de-identified copies "
            "whose UIDs the objects reference.",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """DICOM SEG, SR (TID 1500), RTSTRUCT (CTV) and Encapsulated PDF, in each visit's study."""
    from braintwin.io.dicomweb import stow_files
    from braintwin.twin import Twin
    from braintwin.twin.pacs import export_dicom

    url = stow or os.environ.get(URL_ENV) or None
    auth = _auth(user, token_env) if url else None  # refuse bad credentials before any work
    twin = Twin.open(patient, store=open_store(db))
    result = export_dicom(twin, out, pdf=pdf, images=images)
    typer.echo(f"patient {twin.id}: {len(result.files)} DICOM object(s) written to {out}")
    for note in result.notes:
        typer.echo(f"  {note}")
    objects = [n for n, _ in result.files if not _is_image(n)]
    for name in objects:
        typer.echo(f"  wrote {name}")
    n_images = len(result.files) - len(objects)
    if n_images:
        typer.echo(f"  wrote {n_images} image file(s) (reference series / de-identified images)")
    for skip in result.skipped:
        typer.echo(f"  skipped {skip}")
    summary: dict[str, object] = {
        "written": len(result.files),
        "objects": objects,
        "images": n_images,
        "skipped": result.skipped,
    }
    if url:
        verify: bool | str = os.environ.get(CA_ENV) or True
        pushed = stow_files(url, result.files, auth=auth, verify=verify)
        typer.echo(f"STOW-RS: {pushed.summary()} on the DICOMweb server")
        summary["stored"] = len(pushed.stored)
    emit_json(summary)
