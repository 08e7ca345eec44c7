"""Content-addressed volume files: ``home/objects/ab/<sha256>.nii.gz``.

The address is the sha256 of a volume's *canonical bytes* — the stored dtype, the shape, the
float64 affine and the voxel data in C order, little-endian — not of the gzip file (gzip output
is not reproducible across zlib versions). Identical volumes therefore share one file.

Canonical (stored) dtypes follow ``braintwin.io.save_nifti``: float data is kept at float32
precision, bool becomes uint8, 64-bit integers become int32 (refused when out of range), other
integers are kept. The row in the database
remembers the caller's dtype and the exact float64 affine (NIfTI keeps the affine in float32),
so :func:`read_object` gives back the same ``Volume``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintwin.errors import InputError, StoreError
from braintwin.types import Modality, Volume

__all__ = [
    "OBJECTS_DIR",
    "CanonicalVolume",
    "canonical",
    "canonical_dtype",
    "object_relpath",
    "read_object",
    "write_object",
]

OBJECTS_DIR = "objects"
#: Derived display renditions of stored volumes (the web viewer's cache), kept as
#: ``<sha256[:2]>/<sha256>.<version>.nii.gz``; ``store gc`` removes those whose volume is gone.
RENDITIONS_DIR = "cache/display"
_HASH_TAG = b"braintwin-volume/1\n"


def canonical_dtype(dtype: np.dtype) -> np.dtype:
    """The little-endian dtype a volume of ``dtype`` is stored with (as ``io.save_nifti``)."""
    if dtype.kind == "b":
        return np.dtype("<u1")
    if dtype.kind == "f":
        return np.dtype("<f4")
    if dtype.itemsize == 8:
        return np.dtype("<i4")  # NIfTI readers handle 64-bit ints poorly; range checked
    return dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype


def _storage_array(data: np.ndarray) -> np.ndarray:
    want = canonical_dtype(data.dtype)
    if data.dtype.kind in "iu" and data.dtype.itemsize == 8 and data.size:
        lo, hi = int(data.min()), int(data.max())
        info = np.iinfo(np.int32)
        if lo < info.min or hi > info.max:
            raise InputError(
                f"integer voxels outside the int32 range ({lo}..{hi}) cannot be stored",
                "rescale the data or store it as float",
            )
    return np.ascontiguousarray(data, dtype=want)


@dataclass(frozen=True)
class CanonicalVolume:
    """A volume converted to its stored form, with its content address."""

    data: np.ndarray  # C-contiguous, canonical dtype
    affine: np.ndarray  # (4, 4) float64
    sha256: str
    original_dtype: str


def _digest(data: np.ndarray, affine: np.ndarray) -> str:
    h = hashlib.sha256(_HASH_TAG)
    h.update(f"{data.dtype.str}|{','.join(map(str, data.shape))}\n".encode())
    h.update(np.ascontiguousarray(affine, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(data).data)
    return h.hexdigest()


def canonical(volume: Volume) -> CanonicalVolume:
    """Convert ``volume`` to its stored form and compute its sha256 address."""
    data = _storage_array(np.asarray(volume.data))
    affine = np.asarray(volume.affine, dtype=np.float64)
    return CanonicalVolume(data, affine, _digest(data, affine), volume.data.dtype.str)


def object_relpath(sha256: str) -> str:
    """Path of an object relative to the store's home, e.g. ``objects/ab/ab12….nii.gz``."""
    return f"{OBJECTS_DIR}/{sha256[:2]}/{sha256}.nii.gz"


def _save(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    from braintwin.io import save_nifti

    # ``data`` is already in its stored dtype, so save_nifti writes it unchanged; its header
    # holds geometry and dtype only (no text fields).
    save_nifti(Volume(data, affine), path)


def _load(path: Path) -> np.ndarray:
    from braintwin.io import load_nifti

    return load_nifti(path).data


def write_object(cv: CanonicalVolume, path: Path) -> None:
    """Write a canonical volume as NIfTI to ``path`` (the caller stages and moves it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(cv.data, cv.affine, path)


def read_object(
    home: Path,
    relpath: str,
    *,
    sha256: str,
    affine: list[list[float]],
    dtype: str,
    modality: str,
    meta: dict | None = None,
    verify: bool = True,
) -> Volume:
    """Load a stored object and rebuild the exact ``Volume`` described by its row.

    Raises ``StoreError`` when the file is missing or its content no longer matches ``sha256``.
    """
    path = home / relpath
    if not path.is_file():
        raise StoreError(
            f"stored volume file is missing: {relpath}",
            "the store's objects/ folder was modified outside braintwin; re-ingest the visit",
        )
    try:
        stored = _load(path)
    except Exception as err:  # InputError for corrupt files; be safe with anything else
        raise StoreError(
            f"stored volume file is unreadable: {relpath} ({type(err).__name__})",
            "re-ingest the visit",
        ) from err
    aff = np.asarray(affine, dtype=np.float64)
    want = canonical_dtype(np.dtype(dtype))
    if stored.dtype != want:
        stored = stored.astype(want)
    if verify and _digest(np.ascontiguousarray(stored), aff) != sha256:
        raise StoreError(
            f"stored volume file is corrupt (checksum mismatch): {relpath}",
            "re-ingest the visit",
        )
    data = stored.astype(np.dtype(dtype), copy=False)
    return Volume(data, aff, Modality(modality), dict(meta or {}))
