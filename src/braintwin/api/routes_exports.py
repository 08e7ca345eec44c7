"""Reports and exports: the twin's HTML report and a visit's segmentation in native space.

Both run in the request (seconds, not minutes) and are thin over the twin: the report is
:func:`braintwin.twin.reporting.write_report`, the export :func:`braintwin.twin.exports.
export_visit` (NIfTI, DICOM-SEG, STL meshes, CSV of measurements, in the scanner's grid),
zipped. They are served as attachments: a browser never renders them in the API's origin.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from braintwin.api.deps import Ctx, Pid, User, VisitDate, patient_access

__all__ = ["router"]

router = APIRouter(tags=["exports"])


def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="braintwin-export-"))


def _cleanup(folder: Path) -> BackgroundTask:
    import shutil

    return BackgroundTask(shutil.rmtree, folder, ignore_errors=True)


@router.get(
    "/patients/{pid}/report",
    response_class=FileResponse,
    name="patient_report",
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def patient_report(
    pid: Pid, who: User, ctx: Ctx, format: Literal["html", "pdf"] = "html"
) -> FileResponse:
    """The twin's report (visits, measurements, model, forecasts; pseudonym only): the HTML
    page, or with ``?format=pdf`` the A4 PDF."""
    from braintwin.twin import Twin
    from braintwin.twin.reporting import write_report, write_report_pdf

    patient_access(ctx, who, pid, write=False)
    twin = Twin(ctx.store, pid)
    if not twin.visit_dates():
        raise HTTPException(404, "the twin has no visits yet")
    folder = _scratch()
    try:
        if format == "pdf":
            path, media = write_report_pdf(twin, folder / f"{pid}.pdf"), "application/pdf"
        else:
            path, media = write_report(twin, folder / f"{pid}.html"), "text/html"
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=media,
        filename=path.name,
        content_disposition_type="attachment",
        background=_cleanup(folder),
    )


@router.get(
    "/patients/{pid}/visits/{date}/export",
    response_class=FileResponse,
    name="export_visit",
    responses={200: {"content": {"application/zip": {}}}},
)
def export_visit_zip(pid: Pid, date: VisitDate, who: User, ctx: Ctx) -> FileResponse:
    """The visit's segmentation in the scanner's (native) grid as a zip: NIfTI labels,
    DICOM-SEG, STL meshes per region, measurements CSV (and the uncertainty map if any)."""
    from braintwin.twin import Twin
    from braintwin.twin.exports import export_visit

    patient_access(ctx, who, pid, write=False)
    try:
        day = dt.date.fromisoformat(date)
    except ValueError as err:
        raise HTTPException(422, "the visit date must be YYYY-MM-DD") from err
    visit = Twin(ctx.store, pid).visit(day)
    return _zip_response(
        f"{pid}_{date}_export.zip",
        lambda out: export_visit(visit, out, native=True, patient_id=pid),
    )


def _zip_response(name: str, write: Callable[[Path], list[Path]]) -> FileResponse:
    """Run ``write(folder)`` in a scratch folder and answer everything it wrote there as one
    zip (the scratch folder is removed after the response, or at once on error)."""
    folder = _scratch()
    try:
        out = folder / "out"
        write(out)
        archive = folder / name
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(p for p in out.rglob("*") if p.is_file()):
                zf.write(f, f.relative_to(out))
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        archive, media_type="application/zip", filename=archive.name, background=_cleanup(folder)
    )


@router.get(
    "/patients/{pid}/targets/export",
    response_class=FileResponse,
    name="export_target_volumes",
    responses={200: {"content": {"application/zip": {}}}},
)
def export_targets_zip(pid: Pid, who: User, ctx: Ctx) -> FileResponse:
    """Target volumes of the twin's last modelled visit in the native grid as a zip: GTV,
    standard CTV (GTV + 15 mm in the brain) and the equal-volume model CTV as NIfTI, and one
    DICOM RTSTRUCT with its (de-identified) reference series (``braintwin plans ctv``)."""
    from braintwin.twin import Twin
    from braintwin.twin.targets import export_target_volumes, twin_target_volumes

    patient_access(ctx, who, pid, write=False)
    twin = Twin(ctx.store, pid)
    targets = twin_target_volumes(twin)
    return _zip_response(
        f"{pid}_targets.zip", lambda out: export_target_volumes(twin, targets, out, native=True)
    )
