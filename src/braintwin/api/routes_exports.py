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
from pathlib import Path

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
    responses={200: {"content": {"text/html": {}}}},
)
def patient_report(pid: Pid, who: User, ctx: Ctx) -> FileResponse:
    """The twin's HTML report (visits, measurements, model, forecasts; pseudonym only)."""
    from braintwin.twin import Twin
    from braintwin.twin.reporting import write_report

    patient_access(ctx, who, pid, write=False)
    twin = Twin(ctx.store, pid)
    if not twin.visit_dates():
        raise HTTPException(404, "the twin has no visits yet")
    folder = _scratch()
    path = write_report(twin, folder / f"{pid}.html")
    return FileResponse(
        path,
        media_type="text/html",
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
    folder = _scratch()
    try:
        written = export_visit(visit, folder / "out", native=True, patient_id=pid)
        archive = folder / f"{pid}_{date}_export.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in written:
                zf.write(f, f.relative_to(folder / "out"))
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        archive, media_type="application/zip", filename=archive.name, background=_cleanup(folder)
    )
