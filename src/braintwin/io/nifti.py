"""NIfTI-1 (.nii, .nii.gz) read and write.

Reading validates everything a user can get wrong (missing, empty, truncated, not NIfTI, 2D,
4D with several volumes, NaN/Inf voxels, unreadable) and raises ``InputError`` with a hint.
Writing is atomic (temporary file in the same folder, then ``os.replace``) and builds a fresh
header that carries only the geometry and data type: no text field ever leaves braintwin.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from braintwin.atomic import atomic_write_with
from braintwin.deid.nifti import scrub_nifti_header
from braintwin.errors import InputError
from braintwin.types import Modality, Volume

__all__ = ["NIFTI_SUFFIXES", "is_nifti_name", "load_nifti", "save_nifti"]

NIFTI_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii")
_HINT_REEXPORT = "re-export or re-copy the file, e.g. with dcm2niix"


def is_nifti_name(path: str | os.PathLike[str]) -> bool:
    """True when the file name ends in .nii or .nii.gz (case-insensitive)."""
    return Path(path).name.lower().endswith(NIFTI_SUFFIXES)


def _nifti_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise InputError(
        f"not a NIfTI file name: {path.name}", "braintwin reads .nii and .nii.gz files"
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"file not found: {path}", "check the path and spelling")
    if path.is_dir():
        raise InputError(f"expected a NIfTI file but {path.name} is a folder")
    if path.stat().st_size == 0:
        raise InputError(f"file is empty (0 bytes): {path.name}", _HINT_REEXPORT)
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except PermissionError as err:
        raise InputError(
            f"cannot read {path.name}: permission denied", "check the file's permissions"
        ) from err
    except OSError as err:
        raise InputError(f"cannot read {path.name}: {err.strerror}", _HINT_REEXPORT) from err


def _squeeze_to_3d(data: np.ndarray, name: str) -> np.ndarray:
    if data.ndim == 2:
        raise InputError(
            f"{name} is a 2D image (shape {data.shape}); braintwin needs 3D volumes",
            "give the whole 3D series, not a single slice",
        )
    if data.ndim > 3:
        extra = data.shape[3:]
        if int(np.prod(extra)) > 1:
            raise InputError(
                f"{name} is a {data.ndim}D image holding {int(np.prod(extra))} volumes "
                f"(shape {data.shape}); braintwin needs one 3D volume per file",
                "split it first, e.g. `fslsplit` or nibabel.four_to_three",
            )
        data = data.reshape(data.shape[:3])
    if data.ndim != 3:
        raise InputError(f"{name} has {data.ndim} dimension(s); expected a 3D volume")
    return data


def load_nifti(path: str | os.PathLike[str], modality: Modality | str | None = None) -> Volume:
    """Read a 3D NIfTI image into a ``Volume``.

    Args:
        path: a .nii or .nii.gz file.
        modality: what the image shows; ``None`` gives ``Modality.OTHER``.

    Returns:
        A Volume with the file's voxel array (integers stay integers; scaled data become
        float) and its sform/qform affine (voxel -> RAS+ world, mm). ``meta`` holds only
        non-identifying provenance (``{"source": "nifti"}``).

    Raises:
        InputError: missing, empty, unreadable, truncated or non-NIfTI file; 2D or multi-volume
            4D image; NaN/Inf voxels; non-numeric voxels.
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    p = Path(path)
    _nifti_suffix(p)
    _check_file(p)
    try:
        img = nib.load(str(p))
    except ImageFileError as err:
        raise InputError(f"{p.name} is not a valid NIfTI image", _HINT_REEXPORT) from err
    except (EOFError, zlib.error, gzip.BadGzipFile, ValueError, OSError) as err:
        raise InputError(
            f"{p.name} is corrupt or truncated ({type(err).__name__})", _HINT_REEXPORT
        ) from err
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(f"{p.name} is not a NIfTI image", "braintwin reads NIfTI-1/2 files")
    name = p.name
    try:
        data = np.asanyarray(img.dataobj)
    except (EOFError, zlib.error, gzip.BadGzipFile, ValueError, OSError) as err:
        raise InputError(
            f"{name} is corrupt or truncated: its voxel data cannot be read ({type(err).__name__})",
            _HINT_REEXPORT,
        ) from err
    if data.dtype.kind not in "biuf":
        raise InputError(
            f"{name} has unsupported voxel type {data.dtype} (complex or RGB?)",
            "convert it to a scalar integer or float image",
        )
    data = _squeeze_to_3d(np.asarray(data), name)
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        if bad.any():
            raise InputError(
                f"{name} contains {int(bad.sum())} NaN/Inf voxel(s)",
                "fix or re-export the image; braintwin never guesses missing intensities",
            )
    meta: dict[str, object] = {"source": "nifti"}
    header = img.header
    sform_code = int(header["sform_code"])
    qform_code = int(header["qform_code"])
    if sform_code == 0 and qform_code == 0:
        meta["warnings"] = ["header has no sform/qform: orientation unknown, voxel sizes only"]
    return Volume(
        data, np.asarray(img.affine, dtype=np.float64), Modality(modality or "other"), meta
    )


def _storage_array(data: np.ndarray) -> np.ndarray:
    """float -> float32; bool -> uint8; integers kept (int64 narrowed to int32 when it fits)."""
    if data.dtype.kind == "b":
        return data.astype(np.uint8)
    if data.dtype.kind == "f":
        return data.astype(np.float32)
    if data.dtype.itemsize == 8:
        lo, hi = (int(data.min()), int(data.max())) if data.size else (0, 0)
        info = np.iinfo(np.int32)
        if info.min <= lo and hi <= info.max:
            return data.astype(np.int32)
        raise InputError(
            f"integer voxels outside the int32 range ({lo}..{hi}) cannot be saved portably",
            "rescale the data or save it as float",
        )
    return data


def save_nifti(volume: Volume, path: str | os.PathLike[str]) -> Path:
    """Write ``volume`` to a .nii or .nii.gz file atomically; return the path.

    The header is built from scratch: affine as both qform and sform (code 1, scanner), units
    mm/s, data type; ``descrip``, ``aux_file``, ``intent_name`` and ``db_name`` are empty and
    there are no extensions. The file appears complete or not at all (write to a temporary
    name in the same folder, then ``os.replace``).
    """
    import nibabel as nib

    p = Path(path)
    _nifti_suffix(p)  # refuses anything but .nii / .nii.gz
    data = _storage_array(np.asarray(volume.data))
    img = nib.Nifti1Image(data, volume.affine)
    img.set_qform(volume.affine, code=1)
    img.set_sform(volume.affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    scrub_nifti_header(img.header)
    atomic_write_with(p, lambda tmp: nib.save(img, str(tmp)))
    return p
