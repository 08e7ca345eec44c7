"""Write a ``Volume`` as a DICOM MR Image Storage series (one file per slice).

Used to export volumes and to build realistic test series from real NIfTI data. The geometry is
the exact inverse of ``load_dicom_series`` (RAS+ affine -> LPS ImagePositionPatient /
ImageOrientationPatient / PixelSpacing), so a write-read round trip returns the same voxels on
the same grid. Float data are stored as int16 with a RescaleSlope/RescaleIntercept.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np

from braintwin.atomic import atomic_write_with
from braintwin.errors import InputError
from braintwin.types import Volume

__all__ = ["write_dicom_series"]

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_PRIVATE_TAG = re.compile(r"^\(?\s*([0-9a-fA-F]{4})\s*,\s*([0-9a-fA-F]{4})\s*\)?$")
_PRIVATE_CREATOR = "BRAINTWIN TEST"


def _to_int16(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Stored 16-bit pixels plus (slope, intercept) such that value = stored * slope + intercept.

    Integers that fit int16 or uint16 are stored exactly; anything else is scaled into int16.
    """
    if data.dtype.kind in "biu":
        lo, hi = int(data.min()), int(data.max())
        if lo >= -32768 and hi <= 32767:
            return data.astype(np.int16), 1.0, 0.0
        if lo >= 0 and hi <= 65535:
            return data.astype(np.uint16), 1.0, 0.0
    lo_f, hi_f = float(data.min()), float(data.max())
    if hi_f == lo_f:
        return np.zeros(data.shape, np.int16), 1.0, lo_f
    slope = (hi_f - lo_f) / 65534.0
    intercept = lo_f + 32767.0 * slope
    stored = np.rint((data.astype(np.float64) - intercept) / slope)
    return np.clip(stored, -32767, 32767).astype(np.int16), slope, intercept


def _apply_header(ds: object, header: dict[str, str]) -> None:
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataset import Dataset

    assert isinstance(ds, Dataset)  # narrow the type for mypy; callers pass a Dataset
    for key, value in header.items():
        m = _PRIVATE_TAG.match(key)
        if m:
            group, element = int(m.group(1), 16), int(m.group(2), 16)
            if group % 2 == 0:
                raise InputError(f"header tag {key} is not private (odd group expected)")
            block = element >> 8
            creator_tag = (group << 16) | block
            if creator_tag not in ds:
                ds.add_new(creator_tag, "LO", _PRIVATE_CREATOR)
            ds.add_new((group << 16) | element, "LO", str(value))
        elif tag_for_keyword(key) is not None:
            setattr(ds, key, value)
        else:
            raise InputError(
                f"unknown DICOM keyword {key!r} in header",
                "use pydicom keywords (e.g. PatientName) or a private tag like '0009,1010'",
            )


def write_dicom_series(
    volume: Volume, folder: str | os.PathLike[str], *, header: dict[str, str] | None = None
) -> list[Path]:
    """Write ``volume`` as an MR Image Storage series into an empty (or new) ``folder``.

    Args:
        volume: any 3D volume; its third voxel axis becomes the slice axis.
        folder: output folder; created if missing; must not already hold files.
        header: extra attributes by DICOM keyword (``PatientName``, ``StudyDate``,
            ``SeriesDescription`` …) or private tags as ``"gggg,eeee"`` (odd group, VR LO).
            UIDs not given are generated (one study/series/frame of reference per call).

    Returns:
        The slice files in slice order (``IM00001.dcm`` …).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise InputError(f"{out} is not empty", "write each DICOM series into its own new folder")
    lps = _RAS_TO_LPS @ volume.affine
    col_i, col_j, col_k = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    dc, dr, dz = (float(np.linalg.norm(c)) for c in (col_i, col_j, col_k))
    x_dir, y_dir = col_i / dc, col_j / dr
    normal = np.cross(x_dir, y_dir)
    if abs(float(x_dir @ y_dir)) > 1e-4 or abs(abs(float(normal @ col_k)) / dz - 1) > 1e-4:
        raise InputError(
            "the volume's affine is sheared; DICOM slices need orthogonal axes",
            "resample the volume to an orthogonal grid first",
        )
    stored, slope, intercept = _to_int16(np.asarray(volume.data))
    shared = dict(header or {})
    uids = {
        k: shared.pop(k, "") or str(generate_uid())
        for k in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
    }
    paths: list[Path] = []
    for k in range(volume.shape[2]):
        ipp = lps @ np.array([0.0, 0.0, float(k), 1.0])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        for key, uid in uids.items():
            setattr(ds, key, uid)
        ds.Modality = "MR"
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.PatientName = ""
        ds.PatientID = ""
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp[:3]]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*x_dir, *y_dir)]
        ds.PixelSpacing = [f"{dr:.6f}", f"{dc:.6f}"]
        ds.SliceThickness = f"{dz:.6f}"
        ds.SpacingBetweenSlices = f"{dz:.6f}"
        ds.SliceLocation = f"{float(ipp[:3] @ normal):.6f}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        signed = 1 if stored.dtype == np.int16 else 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, signed
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = f"{intercept:.10g}"
        _apply_header(ds, shared)
        # (rows = j, columns = i): transpose the (i, j) slice into DICOM's row-major layout.
        ds.PixelData = (
            np.ascontiguousarray(stored[:, :, k].T).astype("<i2" if signed else "<u2").tobytes()
        )
        path = out / f"IM{k + 1:05d}.dcm"
        atomic_write_with(path, functools.partial(ds.save_as, enforce_file_format=True))
        paths.append(path)
    return paths
