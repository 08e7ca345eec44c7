"""De-identify a folder of DICOM files into a new folder (for sharing or export).

Every DICOM file under the source folder is read, passed through ``deidentify_dataset`` and
written under the destination with a neutral name (``<index>.dcm`` per series sub-folder
``series-<n>``), so no file or folder name from the source — which often carries names or
MRNs — is copied. The destination appears complete or not at all (built in a temporary
sibling folder, then renamed).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from braintwin.deid.dicom import deidentify_dataset
from braintwin.errors import InputError

__all__ = ["deidentify_folder"]


def _dicom_files(src: Path) -> list[Path]:
    return sorted(
        p
        for p in src.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )


def deidentify_folder(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    secret: bytes,
    *,
    patient_id: str | None = None,
) -> list[Path]:
    """Write de-identified copies of all DICOM files under ``src`` into the new folder ``dst``.

    Args:
        src: folder searched recursively; non-DICOM files are skipped.
        dst: output folder; must not exist yet.
        secret: the installation's key (same key -> same pseudonym, UIDs and date shift).
        patient_id: key for pseudonym and date shift; default each file's own PatientID.

    Returns:
        The written files, grouped as ``dst/series-<n>/<k>.dcm`` by (remapped) series.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    source, target = Path(src), Path(dst)
    if not source.is_dir():
        raise InputError(f"DICOM folder not found: {source}")
    if target.exists():
        raise InputError(f"{target} already exists", "give a new output folder")
    staging = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    staging.mkdir(parents=True)
    series_dirs: dict[str, Path] = {}
    counts: dict[str, int] = {}
    written: list[Path] = []
    try:
        for path in _dicom_files(source):
            try:
                ds = pydicom.dcmread(path)
            except InvalidDicomError:
                continue
            clean = deidentify_dataset(ds, secret, patient_id=patient_id)
            series = str(clean.get("SeriesInstanceUID", "none"))
            if series not in series_dirs:
                series_dirs[series] = staging / f"series-{len(series_dirs) + 1}"
                series_dirs[series].mkdir()
                counts[series] = 0
            counts[series] += 1
            out = series_dirs[series] / f"{counts[series]:05d}.dcm"
            clean.save_as(out, enforce_file_format=True)
            written.append(out)
        if not written:
            raise InputError(
                "no DICOM files in the given folder",
                "point to the folder that holds the DICOM series",
            )
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / p.relative_to(staging) for p in written]
