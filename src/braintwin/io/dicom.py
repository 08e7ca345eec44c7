"""Read one DICOM series folder (2D slices, MR/CT Image Storage) into a ``Volume``.

Geometry follows PS3.3 C.7.6.2: a pixel at column i, row j of a slice lies at
``IPP + i * dc * X + j * dr * Y`` (LPS, mm), where X/Y are the two direction cosines of
ImageOrientationPatient and (dr, dc) = PixelSpacing. Voxel index (i, j, k) maps to that point
with slices sorted along the normal X x Y; the affine is converted from DICOM's LPS to RAS+.
Anything that is not one complete, consistent series is refused with ``DicomSeriesError``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.multival import MultiValue

from braintwin.errors import DicomSeriesError, InputError
from braintwin.io.dcm2niix import convert_with_dcm2niix
from braintwin.io.dicom_geometry import LPS_TO_RAS, slice_geometry
from braintwin.io.dicom_pixels import PixelDecodeError, pixel_format, stack_pixels
from braintwin.io.limits import reading
from braintwin.io.sequence import modality_from_tags
from braintwin.types import Modality, Volume

__all__ = [
    "HEADER_KEYWORDS",
    "DicomSeries",
    "load_dicom_folder",
    "load_dicom_series",
    "read_dicom_files",
    "series_from_datasets",
]

# Non-identifying acquisition attributes copied into DicomSeries.header (after de-identification
# the UIDs are remapped, dates shifted and PatientName/PatientID are the pseudonym).
HEADER_KEYWORDS: tuple[str, ...] = (
    "PatientID", "PatientSex", "PatientAge", "PatientIdentityRemoved", "DeidentificationMethod",
    "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "StudyDate", "SeriesDate",
    "Modality", "Manufacturer", "ManufacturerModelName", "MagneticFieldStrength",
    "ScanningSequence", "SequenceVariant", "MRAcquisitionType", "EchoTime", "RepetitionTime",
    "InversionTime", "FlipAngle", "SliceThickness", "SpacingBetweenSlices", "PixelSpacing",
    "Rows", "Columns", "ContrastBolusAgent", "BodyPartExamined",
)  # fmt: skip


@dataclass
class DicomSeries:
    """One DICOM series read into memory.

    Attributes:
        volume: the image (RAS+ affine in mm; rescaled intensities).
        modality: the sequence guessed from the tags (``None`` when unsure).
        header: summary of acquisition attributes; de-identified unless read with
            ``deidentify=False``.
        patient_key: the original PatientID — in memory only, to derive the pseudonym and the
            date shift; never store or print it.
        study_date: the original StudyDate (or SeriesDate) — in memory only; shift it with
            ``date_offset_days`` before storing.
        warnings: non-identifying notes (e.g. non-DICOM files that were skipped).
    """

    volume: Volume
    modality: Modality | None
    header: dict[str, str]
    patient_key: str | None
    study_date: dt.date | None
    warnings: list[str] = field(default_factory=list)

    @property
    def n_slices(self) -> int:
        return self.volume.shape[2]


_MAX_FILES = 5000  # per series folder; the largest real series (thin CT) have ~2000 slices
_DEFER_BYTES = 64 * 1024  # larger values (the pixel data) stay on disk until decoded
_PIXEL_DATA = 0x7FE00010
_HINT = "re-export the series from the PACS"


def _read_one(path: Path, folder: Path) -> Any:
    """One file's dataset (pixel data deferred), every header element parsed; None if not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES)
    except InvalidDicomError:
        return None
    except PermissionError as err:
        raise InputError(
            f"cannot read a file in the DICOM folder {folder.name}: permission denied",
            "check the files' permissions",
        ) from err
    except MemoryError:
        raise
    except Exception as err:  # pydicom raises anything on malformed bytes (e.g. unknown VRs)
        raise DicomSeriesError(
            f"a file in {folder.name} is a corrupt DICOM file ({type(err).__name__})", _HINT
        ) from err
    with reading(f"a file header in {folder.name}", _HINT, DicomSeriesError):
        for tag in list(ds.keys()):  # pydicom parses lazily: malformed values fail here, now
            if tag != _PIXEL_DATA:
                ds[tag]  # the access converts the raw element
    return ds


def read_dicom_files(folder: Path) -> tuple[list[Any], int]:
    """The DICOM image datasets directly inside ``folder`` and the number of other files.

    Pixel data are not loaded (deferred until decoding); every other element is parsed, so a
    malformed header fails here with ``DicomSeriesError``.
    """
    paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(paths) > _MAX_FILES:
        raise DicomSeriesError(
            f"{folder.name} holds {len(paths)} files, more than {_MAX_FILES} for one series",
            "put each series in its own folder",
        )
    datasets: list[Any] = []
    skipped = 0
    for path in paths:
        ds = _read_one(path, folder)
        if ds is None or "PixelData" not in ds:
            skipped += 1  # not DICOM; or DICOMDIR, structured reports, presentation states, …
            continue
        datasets.append(ds)
    return datasets, skipped


def _check_one_series(datasets: list[Any], folder: Path) -> None:
    uids = [str(ds.get("SeriesInstanceUID", "")) for ds in datasets]
    distinct = sorted(set(uids))
    if len(distinct) > 1:
        counts = sorted((uids.count(u) for u in distinct), reverse=True)
        raise DicomSeriesError(
            f"{folder.name} mixes {len(distinct)} DICOM series "
            f"({', '.join(str(c) for c in counts)} slices)",
            "put each series in its own sub-folder (e.g. `dcm2niix -f %s` or sort by "
            "SeriesInstanceUID) and pass the parent folder",
        )


def _parse_date(value: Any) -> dt.date | None:
    text = str(value or "").strip()
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def _without_pixels(ds: Any) -> Any:
    """A dataset with ``ds``'s elements except the pixel data (which the summary never needs)."""
    from pydicom.dataset import Dataset

    out = Dataset()
    for elem in ds:
        if elem.keyword != "PixelData":
            out.add(elem)
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    return out


def _header(ds: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for keyword in HEADER_KEYWORDS:
        value = ds.get(keyword, None)
        if value is None or value == "":
            continue
        multi = isinstance(value, MultiValue | list)
        out[keyword] = "\\".join(str(v) for v in value) if multi else str(value)
    return out


def load_dicom_series(
    folder: str | os.PathLike[str], *, deidentify: bool = True, secret: bytes | None = None
) -> DicomSeries:
    """Read the one DICOM series whose slice files lie directly in ``folder``.

    Args:
        folder: a folder of 2D DICOM slice files (non-DICOM files are skipped with a warning).
        deidentify: de-identify the header summary (PS3.15 Basic Profile, see ``braintwin.deid``).
        secret: key for pseudonyms, UID remapping and date shifts; ``None`` uses a throw-away
            key (nothing is then linkable across calls) — pass ``load_or_create_secret(home)``.

    Raises:
        DicomSeriesError: no images, several series, missing/duplicated slices, inconsistent
            orientation, matrix size or spacing, undecodable pixel data.
    """
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"DICOM folder not found: {path}", "give the folder holding the slices")
    with reading(f"the DICOM folder {path.name}", _HINT, DicomSeriesError):
        return _load_series(path, deidentify, secret)


def _load_series(path: Path, deidentify: bool, secret: bytes | None) -> DicomSeries:
    datasets, skipped = read_dicom_files(path)
    if not datasets:
        subdirs = [p for p in path.iterdir() if p.is_dir()]
        raise DicomSeriesError(
            f"no DICOM images directly in {path.name}"
            + (f" ({skipped} other file(s) ignored)" if skipped else ""),
            "pass the parent folder to read every series sub-folder"
            if subdirs
            else "give a folder of DICOM slice files",
        )
    return series_from_datasets(datasets, skipped, path, deidentify, secret)


def series_from_datasets(
    datasets: list[Any], skipped: int, path: Path, deidentify: bool, secret: bytes | None
) -> DicomSeries:
    """Build a ``DicomSeries`` from the image datasets of one folder (see ``load_dicom_series``).

    Every check runs before any pixel is decoded: one series, one pixel format and transfer
    syntax, the declared size within the limits, then the slice geometry.
    """
    with reading(f"the DICOM series in {path.name}", _HINT, DicomSeriesError):
        return _series(datasets, skipped, path, deidentify, secret)


def _series(
    datasets: list[Any], skipped: int, path: Path, deidentify: bool, secret: bytes | None
) -> DicomSeries:
    _check_one_series(datasets, path)
    fmt = pixel_format(datasets, f"the DICOM series in {path.name}")
    first = datasets[0]
    ordered: list[Any] = []  # the slice datasets in voxel order k, when that is known
    if fmt.frames > 1:
        # enhanced / legacy-converted multi-frame: geometry lives in per-frame sequences
        data, affine = convert_with_dcm2niix(path)
    else:
        order, affine_lps, _ = slice_geometry(datasets)
        first = datasets[order[0]]
        affine = LPS_TO_RAS @ affine_lps
        try:
            data = stack_pixels(datasets, order, fmt)
            ordered = [datasets[i] for i in order]
        except PixelDecodeError:
            # a compressed transfer syntax without a Python decoder: dcm2niix has its own
            data, affine = convert_with_dcm2niix(path)
    warnings = [f"ignored {skipped} non-image or non-DICOM file(s)"] if skipped else []
    guess = modality_from_tags(first)
    patient_key = str(first.get("PatientID", "") or "").strip() or None
    study_date = _parse_date(first.get("StudyDate")) or _parse_date(first.get("SeriesDate"))
    key = secret if secret is not None else secrets.token_bytes(32)
    if deidentify:
        from braintwin.deid import deidentify_dataset

        header = _header(deidentify_dataset(_without_pixels(first), key))
    else:
        header = _header(first)
    meta: dict[str, Any] = {"source": "dicom", "slices": int(data.shape[2])}
    if deidentify and ordered:
        # The remapped SOP Instance UID of voxel slice k, so that results sent back to a PACS
        # can reference the de-identified images one by one (``braintwin.twin.pacs``).
        from braintwin.deid.keys import remap_uid

        meta["instance_uids"] = [remap_uid(str(d.SOPInstanceUID), key) for d in ordered]
        meta["sop_class_uid"] = str(first.get("SOPClassUID", ""))
    if warnings:
        meta["warnings"] = list(warnings)
    volume = Volume(data, affine, guess or Modality.OTHER, meta)
    return DicomSeries(volume, guess, header, patient_key, study_date, warnings)


def load_dicom_folder(
    folder: str | os.PathLike[str], *, deidentify: bool = True, secret: bytes | None = None
) -> list[DicomSeries]:
    """Read every series of a folder: its own slice files and/or each sub-folder's (one level)."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"DICOM folder not found: {path}")
    with reading(f"the DICOM folder {path.name}", _HINT, DicomSeriesError):
        return _load_folder(path, deidentify, secret)


def _load_folder(path: Path, deidentify: bool, secret: bytes | None) -> list[DicomSeries]:
    found: list[DicomSeries] = []
    candidates = [
        path,
        *sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
    ]
    for candidate in candidates:
        datasets, skipped = read_dicom_files(candidate)
        if datasets:
            found.append(series_from_datasets(datasets, skipped, candidate, deidentify, secret))
    if not found:
        raise DicomSeriesError(f"no DICOM images in {path.name} or its sub-folders")
    return found
