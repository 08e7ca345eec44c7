"""Results back to PACS: the twin's DICOM objects, each filed in the study of its visit.

Per segmented visit ``visit-N`` (N = position in the timeline): the segmentation as DICOM SEG and
the regional measurements as a DICOM SR (TID 1500); for the last modelled visit the standard and
model CTV as an RT Structure Set; the report as an Encapsulated PDF in the newest visit's study.

Which study: a visit ingested from DICOM keeps the remapped (``deid.keys.remap_uid``) study,
series, frame-of-reference and per-slice instance UIDs (``Visit.meta["dicom"]``). Its objects
join that study and reference those images one by one when the exported grid is the series' own
(it is, unless ``--spacing`` overrode the headers). The de-identified images themselves are not
stored; :func:`deidentify_images` makes the matching copies from the original files, with the
same UIDs, the pseudonym and the twin's date shift, so a research PACS holds images and results
in one study. A visit ingested from NIfTI has no study: its Study Instance UID, frame of reference
and reference series (written beside the objects) are *derived*, ``2.25.<128 bits of
HMAC-SHA256(installation secret, pseudonym | visit date)>``, so every export of that visit lands
in the same study. Patient name and ID are the pseudonym; every date is the visit's shifted date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.deid.keys import hmac_digest
from braintwin.errors import InputError, NotFoundError
from braintwin.io.dicom_refs import StudyReference, recorded_series
from braintwin.types import Modality, Visit, Volume

__all__ = [
    "FILES",
    "PacsExport",
    "deidentify_images",
    "derived_uid",
    "export_dicom",
    "visit_study",
    "visit_study_uid",
]

#: Content names of the written objects (no identifiers), inside ``visit-N/``.
FILES = {
    "seg": "seg.dcm",
    "sr": "measurements_sr.dcm",
    "rtstruct": "ctv_rtstruct.dcm",
    "pdf": "report_pdf.dcm",
    "reference": "reference",
    "images": "images",
}


@dataclass
class PacsExport:
    """The written objects as ``(name relative to the output folder, path)``, and notes."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, root: Path, path: Path) -> None:
        self.files.append((path.relative_to(root).as_posix(), path))


def derived_uid(secret: bytes, *parts: str) -> str:
    """A stable UID ``2.25.<int>`` from 128 bits of a keyed hash of ``parts``."""
    digest = hmac_digest(secret, "derived-dicom-uid", "|".join(parts).encode("utf-8"))
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def visit_study_uid(secret: bytes, pseudonym: str, date: dt.date, meta: Mapping[str, Any]) -> str:
    """The StudyInstanceUID a visit's results belong to: the ingested DICOM study's remapped UID,
    or for a NIfTI visit one derived from the pseudonym and the visit date (the same in every
    export, so DICOM objects and FHIR ImagingStudy references agree)."""
    record = meta.get("dicom") or None
    if record:
        return str(record["study_uid"])
    return derived_uid(secret, pseudonym, str(date), "study")


def visit_study(
    secret: bytes, pseudonym: str, visit: Visit, modality: str, grid: Volume
) -> tuple[StudyReference, str]:
    """The study (and images) the objects of ``visit`` on ``grid`` refer to, and how it was found.

    ``grid`` is the native grid of ``modality`` the objects are written on.
    """
    record = visit.meta.get("dicom") or None
    key = (pseudonym, str(visit.date))
    series = recorded_series(record, modality, grid.shape, grid.affine)
    if record and series is not None:
        ref = StudyReference(
            study_uid=str(record["study_uid"]),
            frame_of_reference_uid=str(series["frame_of_reference_uid"]),
            series_uid=str(series["series_uid"]),
            instance_uids=tuple(series["instance_uids"]),
            sop_class_uid=str(series.get("sop_class_uid") or "1.2.840.10008.5.1.4.1.1.4"),
            existing=True,
        )
        return ref, "the ingested DICOM study and its images (remapped UIDs)"
    n = grid.shape[2]
    derived = StudyReference(
        study_uid=visit_study_uid(secret, pseudonym, visit.date, visit.meta),
        frame_of_reference_uid=derived_uid(secret, *key, modality, "frame"),
        series_uid=derived_uid(secret, *key, modality, "series"),
        instance_uids=tuple(derived_uid(secret, *key, modality, "image", str(k)) for k in range(n)),
    )
    if record:
        how = (
            "the ingested DICOM study (remapped UID); a new reference series, as the grid is "
            "not the acquired series' own (--spacing override)"
        )
    elif any(str(src).startswith("dicom:") for src in visit.meta.get("sources", [])):
        how = (
            "a derived study UID with a reference series: this DICOM visit was ingested before "
            "braintwin kept its UIDs (ingest it again to reference its images)"
        )
    else:
        how = "a study UID derived for this NIfTI visit, with a reference series"
    return derived, how


def _native(visit: Visit, vol: Volume, order: int | None = None) -> tuple[Volume, str]:
    from braintwin.preprocess import to_native

    transforms = visit.meta.get("transforms")
    if not transforms:
        return vol, visit.reference.modality.value
    fixed = str(transforms.get("fixed", Modality.T1CE.value))
    return to_native(vol, transforms, fixed, order=order), fixed


def _content_uids(
    secret: bytes, pseudonym: str, kind: str, study_uid: str, *content: bytes | str
) -> tuple[str, str]:
    """(Series, SOP) Instance UIDs of a written object: one series per kind and study, and an
    instance UID that changes exactly when the content does, so pushing the same results
    again stores nothing new while a changed result becomes a new instance of the series."""
    digest = hashlib.sha256()
    for part in (*content, _version()):
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        digest.update(b"\x00")
    series = derived_uid(secret, pseudonym, kind, "series", study_uid)
    return series, derived_uid(secret, pseudonym, kind, "instance", study_uid, digest.hexdigest())


def _volume_bytes(vol: Volume) -> bytes:
    return np.ascontiguousarray(vol.data).tobytes() + np.asarray(vol.affine, float).tobytes()


def _version() -> str:
    from braintwin import __version__

    return str(__version__)


def _tracking_uids(secret: bytes, pseudonym: str) -> dict[str, str]:
    return {r: derived_uid(secret, pseudonym, "tracking", r) for r in ("WT", "TC", "ET")}


def _visit_objects(
    twin: Any, secret: bytes, visit: Visit, n: int, root: Path, out: PacsExport
) -> Any:
    """SEG and SR of one segmented visit; returns the SEG dataset (for later objects)."""
    import pydicom

    from braintwin.io.dicom_sr import measurement_report, region_values, save_measurement_report
    from braintwin.io.dicomseg import save_dicom_seg

    if visit.segmentation is None:
        raise NotFoundError(f"visit-{n} has no segmentation", f"run `braintwin segment {twin.id}`")
    folder = root / f"visit-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    seg, modality = _native(visit, visit.segmentation)
    image, _ = _native(visit, visit.volumes.get(Modality(modality), visit.reference), order=1)
    study, how = visit_study(secret, twin.id, visit, modality, seg)
    out.notes.append(f"visit-{n}: {how}")
    where = (str(visit.date), study.series_uid, *study.instance_uids)
    path = save_dicom_seg(
        seg,
        image,
        folder / FILES["seg"],
        patient_id=twin.id,
        study_date=visit.date,
        study=study,
        reference_dir=folder / FILES["reference"],
        uids=_content_uids(secret, twin.id, "seg", study.study_uid, _volume_bytes(seg), *where),
    )
    if not study.existing:
        for ref in sorted((folder / FILES["reference"]).glob("*.dcm")):
            out.add(root, ref)
    out.add(root, path)
    seg_ds = pydicom.dcmread(path)
    values = region_values(visit.measurements or {})
    sr_uids = _content_uids(
        secret, twin.id, "sr", study.study_uid, repr(values), str(n), seg_ds.SOPInstanceUID
    )
    sr = measurement_report(
        [seg_ds],
        values,
        tracking_uids=_tracking_uids(secret, twin.id),
        time_point=f"visit {n}",
        time_point_order=n,
        device_uid=derived_uid(secret, "braintwin-device"),
        series_uid=sr_uids[0],
        sop_uid=sr_uids[1],
        day=visit.date,
        version=_version(),
    )
    out.add(root, save_measurement_report(sr, folder / FILES["sr"]))
    return seg_ds


def _rtstruct(twin: Any, secret: bytes, dates: list[dt.date], root: Path, out: PacsExport) -> None:
    from braintwin.io.rtstruct import save_rtstruct
    from braintwin.twin.targets import target_masks, target_rois, twin_target_volumes

    try:
        targets = twin_target_volumes(twin)
    except NotFoundError as err:
        out.skipped.append(f"RTSTRUCT (CTV): {err.message}; {err.hint}")
        return
    visit = twin.store.load_visit(twin.id, targets.date)
    native = {k: _native(visit, v)[0] for k, v in target_masks(targets).items()}
    image, modality = _native(visit, visit.reference, order=1)
    study, _ = visit_study(secret, twin.id, visit, modality, image)
    n = dates.index(targets.date) + 1
    rois = target_rois(targets, native)
    folder = root / f"visit-{n}"
    path = save_rtstruct(
        rois,
        folder / FILES["rtstruct"],
        reference=image,
        reference_dir=folder / FILES["reference"],
        patient_id=twin.id,
        study_date=targets.date,
        label="braintwin CTV",
        study=study,
        uids=_content_uids(
            secret, twin.id, "rtstruct", study.study_uid, str(targets.date),
            *(_volume_bytes(r.mask) for r in rois), *(r.description for r in rois),
        ),
    )  # fmt: skip
    known = {p for _, p in out.files}
    if not study.existing:
        for ref in sorted((folder / FILES["reference"]).glob("*.dcm")):
            if ref not in known:
                out.add(root, ref)
    out.add(root, path)


def _report_pdf(twin: Any, pdf: Path | None, tmp: Path) -> tuple[bytes, str]:
    """The PDF to encapsulate: the given file, else the twin's report (report.pdf)."""
    if pdf is not None:
        if not Path(pdf).is_file():
            raise InputError("the --pdf file does not exist", "give the path of a PDF file")
        return Path(pdf).read_bytes(), "the given PDF"
    from braintwin.twin.reporting import write_report_pdf

    return Path(write_report_pdf(twin, tmp / "report.pdf")).read_bytes(), "the twin's report"


def export_dicom(
    twin: Any, out_dir: Path, *, pdf: Path | None = None, images: Path | None = None
) -> PacsExport:
    """Write the twin's DICOM objects for a PACS into ``out_dir`` (see the module docstring).

    Args:
        twin: the twin (``braintwin.twin.Twin``).
        out_dir: output folder (created; files named by content, no identifiers).
        pdf: a report PDF to encapsulate; default the twin's own PDF report
            (``twin.reporting.write_report_pdf``).
        images: the original DICOM folder of the visits, to write de-identified copies that
            match the stored UIDs (``images/series-N/*.dcm``).

    Raises:
        NotFoundError: the twin has no segmented visit.
        InputError: ``pdf`` is not a PDF file; ``images`` holds files of another study.
    """
    import tempfile

    import pydicom

    from braintwin.deid import load_or_create_secret
    from braintwin.io.dicom_pdf import encapsulate_pdf, save_encapsulated_pdf

    secret = load_or_create_secret(twin.store.home)
    dates = twin.visit_dates()
    segmented = [
        (n, d)
        for n, d in enumerate(dates, start=1)
        if twin.store.load_visit(twin.id, d).segmentation
    ]
    if not segmented:
        raise NotFoundError(
            "the twin has no segmented visit, so nothing to send to a PACS",
            f"run `braintwin segment {twin.id}` first",
        )
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    out = PacsExport()
    if images is not None:
        studies = set()
        for _, date in segmented:
            record = twin.store.load_visit(twin.id, date).meta.get("dicom") or {}
            studies.add(str(record.get("study_uid", "")))
        for path in deidentify_images(twin, secret, images, root / FILES["images"], studies):
            out.add(root, path)
    last_seg: Any = None
    for n, date in segmented:
        last_seg = _visit_objects(twin, secret, twin.store.load_visit(twin.id, date), n, root, out)
    _rtstruct(twin, secret, dates, root, out)
    with tempfile.TemporaryDirectory() as tmp:
        data, what = _report_pdf(twin, pdf, Path(tmp))
    n = segmented[-1][0]
    pdf_series, pdf_uid = _content_uids(
        secret, twin.id, "pdf", str(last_seg.StudyInstanceUID), data, last_seg.SOPInstanceUID
    )
    ds = encapsulate_pdf(
        data,
        last_seg,
        title="braintwin tumour report",
        series_uid=pdf_series,
        sop_uid=pdf_uid,
        version=_version(),
    )
    out.add(root, save_encapsulated_pdf(ds, root / f"visit-{n}" / FILES["pdf"]))
    out.notes.append(f"visit-{n}: PDF from {what}")
    for _, path in out.files:  # every object must re-open (a broken file never reaches a PACS)
        pydicom.dcmread(path, stop_before_pixels=True)
    return out


def deidentify_images(
    twin: Any, secret: bytes, src: Path, dst: Path, studies: set[str]
) -> list[Path]:
    """De-identified copies of the original DICOM files under ``src`` that match the twin.

    UIDs are remapped exactly as at ingest, dates shifted with the twin's offset, PatientName
    and PatientID set to the twin's pseudonym: the copies are the images the twin's objects
    reference. Written as ``dst/series-N/00001.dcm`` (no name from the source is kept).
    Every file must belong to one of ``studies`` (the twin's remapped study UIDs): images of
    another study, perhaps of another patient, are never filed under this pseudonym.
    """
    import shutil

    import pydicom

    from braintwin.deid import deidentify_folder

    written = deidentify_folder(src, dst, secret, patient_id=twin.id)
    try:
        foreign = 0
        for path in written:
            ds = pydicom.dcmread(path)
            if str(ds.get("StudyInstanceUID", "")) not in studies:
                foreign += 1
                continue
            # deidentify_dataset keys pseudonym *and* date shift on patient_id; the twin's shift
            # is keyed on its pseudonym (Twin.date_offset_days): pass that, restore the name.
            ds.PatientID = twin.id
            ds.PatientName = twin.id
            ds.save_as(path, enforce_file_format=True)
        if foreign:
            raise InputError(
                f"{foreign} of the {len(written)} DICOM files given with --images belong to no "
                "study ingested into this twin; nothing was written",
                "give the folder of the DICOM study (studies) this patient's visits came from",
            )
    except BaseException:
        shutil.rmtree(dst, ignore_errors=True)
        raise
    return written
