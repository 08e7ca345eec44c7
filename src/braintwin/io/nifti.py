"""NIfTI-1 (.nii, .nii.gz) read and write.

Reading validates everything a user can get wrong (missing, empty, truncated, not NIfTI, 2D,
4D with several volumes, NaN/Inf voxels, unreadable) and raises ``InputError`` with a hint.
Writing is atomic (temporary file in the same folder, then ``os.replace``) and builds a fresh
header that carries only the geometry and data type: no text field ever leaves braintwin.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from braintwin.atomic import atomic_write_with
from braintwin.deid.nifti import scrub_nifti_header
from braintwin.errors import InputError
from braintwin.io.limits import format_bytes, reading
from braintwin.io.nifti_header import NiftiLayout, parse_nifti_header, qform_represents
from braintwin.types import Modality, Volume

__all__ = ["NIFTI_SUFFIXES", "is_nifti_name", "load_nifti", "save_nifti"]

NIFTI_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii")
_HINT_REEXPORT = "re-export or re-copy the file, e.g. with dcm2niix"
_READ_BLOCK = 4 << 20


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


def _fill(fh: io.BufferedIOBase, buf: np.ndarray, name: str, done: int, total: int) -> None:
    """Fill the uint8 ``buf`` from ``fh`` exactly (never more: a gzip bomb stops here)."""
    view = buf.data  # a writable memoryview of the buffer
    n, got = buf.size, 0
    while got < n:
        # in blocks: GzipFile.readinto reads into a temporary bytes object of the full size
        k = fh.readinto(view[got : got + _READ_BLOCK])
        if not k:
            raise InputError(
                f"{name} is corrupt or truncated: {format_bytes(done + got)} of "
                f"{format_bytes(total)} of voxel data present",
                _HINT_REEXPORT,
            )
        got += k


def _skip_to(fh: io.BufferedIOBase, offset: int, name: str) -> None:
    pos = fh.tell()
    if offset <= pos:  # the header read may run past a small offset
        fh.seek(offset)
    else:
        skipped = fh.read(offset - pos)  # bounded: offset <= 64 MiB (header check)
        if len(skipped) != offset - pos:
            raise InputError(f"{name} is corrupt or truncated (no voxel data)", _HINT_REEXPORT)


def _voxels(fh: io.BufferedIOBase, layout: NiftiLayout, name: str) -> np.ndarray:
    _skip_to(fh, layout.offset, name)
    total = layout.raw_bytes
    if layout.slope is None:  # read straight into the result
        raw = np.empty(total, dtype=np.uint8)
        _fill(fh, raw, name, 0, total)
        arr = raw.view(layout.dtype).reshape(layout.shape, order="F")
        if not arr.dtype.isnative:
            arr.byteswap(inplace=True)
            arr = arr.view(arr.dtype.newbyteorder("="))
        return arr
    # scaled: convert block by block into the float result, so the raw data never coexist
    # with it in full (resident memory stays at the result's size plus one block)
    nvox = total // layout.dtype.itemsize
    out = np.empty(nvox, dtype=layout.out_dtype)
    per = max(_READ_BLOCK // layout.dtype.itemsize, 1)
    block = np.empty(per * layout.dtype.itemsize, dtype=np.uint8)
    slope, inter = layout.out_dtype.type(layout.slope), layout.out_dtype.type(layout.inter)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, nvox, per):
            count = min(per, nvox - start)
            part = block[: count * layout.dtype.itemsize]
            _fill(fh, part, name, start * layout.dtype.itemsize, total)
            values = part.view(layout.dtype).astype(layout.out_dtype)  # byte order handled
            values *= slope
            values += inter
            out[start : start + count] = values
    return out.reshape(layout.shape, order="F")


def load_nifti(path: str | os.PathLike[str], modality: Modality | str | None = None) -> Volume:
    """Read a 3D NIfTI image into a ``Volume``.

    The header is validated before any voxel is read (:mod:`braintwin.io.nifti_header`):
    dimensions, data type, offset, voxel sizes, scaling, qform/sform agreement, and the
    declared size against ``BRAINTWIN_MAX_VOLUME_BYTES`` (and the decompression ratio for
    .nii.gz); then exactly the declared bytes are read.

    Args:
        path: a .nii or .nii.gz file.
        modality: what the image shows; ``None`` gives ``Modality.OTHER``.

    Returns:
        A Volume with the file's voxel array (integers stay integers; scaled data become
        float32, or float64 for 64-bit input) and its sform/qform affine (voxel -> RAS+ world,
        mm). ``meta`` holds only non-identifying provenance (``{"source": "nifti"}``).

    Raises:
        InputError: missing, empty, unreadable, truncated or non-NIfTI file; 2D or multi-volume
            4D image; invalid or implausible geometry; oversized; NaN/Inf voxels; non-numeric
            voxels.
    """
    p = Path(path)
    suffix = _nifti_suffix(p)
    _check_file(p)
    name = p.name
    file_bytes = p.stat().st_size
    compressed = suffix == ".nii.gz"
    with reading(name, _HINT_REEXPORT):
        try:
            with gzip.open(p, "rb") if compressed else open(p, "rb") as fh:
                layout = parse_nifti_header(fh, name, file_bytes, compressed)
                data = _voxels(fh, layout, name)
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as err:
            raise InputError(
                f"{name} is corrupt or truncated ({type(err).__name__})", _HINT_REEXPORT
            ) from err
    if data.dtype.kind == "f":
        # slab by slab: a full boolean mask would add a quarter of a float32 volume
        bad = sum(int(np.count_nonzero(~np.isfinite(data[..., k]))) for k in range(data.shape[2]))
        if bad:
            raise InputError(
                f"{name} contains {bad} NaN/Inf voxel(s)"
                + (" after intensity scaling" if layout.slope is not None else ""),
                "fix or re-export the image; braintwin never guesses missing intensities",
            )
    meta: dict[str, object] = {"source": "nifti"}
    notes = list(layout.notes)
    if not layout.oriented:
        notes.append("header has no sform/qform: orientation unknown, voxel sizes only")
    if notes:
        meta["warnings"] = notes
    return Volume(data, layout.affine, Modality(modality or "other"), meta)


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

    The header is built from scratch: affine as sform and, unless it is sheared, as qform
    (code 1, scanner), units mm/s, data type; ``descrip``, ``aux_file``, ``intent_name`` and ``db_name`` are empty and
    there are no extensions. The file appears complete or not at all (write to a temporary
    name in the same folder, then ``os.replace``).
    """
    import nibabel as nib

    p = Path(path)
    _nifti_suffix(p)  # refuses anything but .nii / .nii.gz
    data = _storage_array(np.asarray(volume.data))
    img = nib.Nifti1Image(data, volume.affine)
    img.set_qform(volume.affine, code=1)
    if not qform_represents(img.get_qform(), volume.affine):
        img.set_qform(None, code=0)  # a sheared affine has no qform: the sform alone holds it
    img.set_sform(volume.affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    scrub_nifti_header(img.header)
    atomic_write_with(p, lambda tmp: nib.save(img, str(tmp)))
    return p
