"""Parse and validate a NIfTI-1/2 header before a single voxel is read.

nibabel repairs bad headers with a warning (negative pixdim -> abs, zero pixdim -> 1) and
trusts ``dim``/``vox_offset`` when it allocates; both let a broken or hostile file through.
Here the header's raw fields are checked first: dimensions, data type, data offset, voxel
sizes, scaling, and the qform/sform pair (they must agree when both are set); the declared
size goes through :func:`braintwin.io.limits.check_declared`. Extensions are never parsed
(braintwin does not use them and drops them on writing).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.io.limits import check_declared, format_bytes

__all__ = [
    "MAX_VOXEL_MM",
    "MIN_VOXEL_MM",
    "NiftiLayout",
    "parse_nifti_header",
    "qform_represents",
]

MIN_VOXEL_MM = 0.01  # below: the header is in metres/micrometres or corrupt
MAX_VOXEL_MM = 50.0  # above: no MRI voxel is 5 cm thick
_MAX_VOX_OFFSET = 64 << 20  # header + extensions; real extensions are kilobytes
_HINT = "re-export the image (e.g. with dcm2niix) or fix its header"
_HINT_OVERRIDE = "fix the header; if only the voxel size is wrong, ingest with --spacing X,Y,Z (mm)"


@dataclass(frozen=True)
class NiftiLayout:
    """What the header says about the voxel array, validated.

    Attributes:
        shape: the 3D shape (trailing singleton dimensions dropped).
        dtype: the on-disk element type (with its byte order).
        offset: byte offset of the voxel data in the (decompressed) stream.
        slope, inter: scaling to apply (``None`` when the data are stored unscaled).
        out_dtype: element type of the returned array (float when scaled).
        affine: voxel -> world (RAS+, mm).
        oriented: False when neither qform nor sform is set (orientation unknown).
        notes: non-identifying remarks for the volume's ``meta["warnings"]``.
    """

    shape: tuple[int, int, int]
    dtype: np.dtype[Any]
    offset: int
    slope: float | None
    inter: float | None
    out_dtype: np.dtype[Any]
    affine: np.ndarray
    oriented: bool
    notes: tuple[str, ...] = ()

    @property
    def raw_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def out_bytes(self) -> int:
        return math.prod(self.shape) * self.out_dtype.itemsize


def _header_class(head: bytes, name: str) -> tuple[Any, int]:
    import nibabel as nib

    if len(head) < 348:
        raise InputError(f"{name} is not a valid NIfTI image (only {len(head)} bytes)", _HINT)
    for size, cls in ((348, nib.Nifti1Header), (540, nib.Nifti2Header)):
        for order in ("<", ">"):
            if int(np.frombuffer(head[:4], dtype=f"{order}i4")[0]) == size and len(head) >= size:
                return cls, size
    raise InputError(f"{name} is not a valid NIfTI image (unknown header size)", _HINT)


def _dims(hdr: Any, name: str) -> tuple[int, ...]:
    dim = [int(v) for v in hdr["dim"]]
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise InputError(f"{name} has an invalid dimension count dim[0]={ndim}", _HINT)
    shape = tuple(dim[1 : ndim + 1])
    if any(n < 1 for n in shape):
        raise InputError(f"{name} declares an empty or negative dimension: {shape}", _HINT)
    if ndim < 3:
        raise InputError(
            f"{name} is a {ndim}D image (shape {shape}); braintwin needs 3D volumes",
            "give the whole 3D series, not a single slice",
        )
    extra = math.prod(shape[3:])
    if extra > 1:
        raise InputError(
            f"{name} is a {ndim}D image holding {extra} volumes (shape {shape}); braintwin "
            "needs one 3D volume per file",
            "split it first, e.g. `fslsplit` or nibabel.four_to_three",
        )
    return shape


def _dtype(hdr: Any, name: str) -> np.dtype[Any]:
    code = int(hdr["datatype"])
    if code == 0:
        raise InputError(f"{name} has an unknown voxel data type (code 0)", _HINT)
    try:
        dtype = np.dtype(hdr.get_data_dtype())
    except Exception as err:  # nibabel raises HeaderDataError / KeyError for unknown codes
        raise InputError(f"{name} has an unknown voxel data type (code {code})", _HINT) from err
    if code == 1 or dtype.kind not in "iuf" or dtype.itemsize > 8:
        kind = {"c": "complex", "V": "RGB/structured", "b": "1-bit"}.get(dtype.kind, str(dtype))
        raise InputError(
            f"{name} has an unsupported voxel type: {'1-bit' if code == 1 else kind} "
            f"(datatype code {code})",
            "convert it to a scalar integer or float image",
        )
    return dtype


def _offset(hdr: Any, size: int, name: str) -> int:
    raw = float(hdr["vox_offset"])
    if raw == 0:
        return size + 4  # NIfTI-1: 0 in a single file means "right after the header"
    if not math.isfinite(raw) or raw != int(raw) or raw < size or raw > _MAX_VOX_OFFSET:
        raise InputError(f"{name} has an invalid voxel data offset (vox_offset={raw:g})", _HINT)
    return int(raw)


def _scaling(hdr: Any, name: str) -> tuple[float | None, float | None]:
    slope, inter = float(hdr["scl_slope"]), float(hdr["scl_inter"])
    if slope == 0 or math.isnan(slope):
        return None, None  # the standard: no scaling
    if not (math.isfinite(slope) and math.isfinite(inter)):
        raise InputError(
            f"{name} has invalid intensity scaling (scl_slope={slope:g}, scl_inter={inter:g})",
            _HINT,
        )
    if slope == 1 and inter == 0:
        return None, None
    return slope, inter


def _qform(hdr: Any, name: str) -> np.ndarray:
    qfac = float(hdr["pixdim"][0])
    if qfac not in (-1.0, 0.0, 1.0):
        raise InputError(f"{name} has an invalid qform sign pixdim[0]={qfac:g}", _HINT)
    b, c, d = (float(hdr[k]) for k in ("quatern_b", "quatern_c", "quatern_d"))
    if not all(map(math.isfinite, (b, c, d))) or b * b + c * c + d * d > 1 + 1e-6:
        raise InputError(f"{name} has an invalid qform rotation (quaternion)", _HINT)
    return np.asarray(hdr.get_qform(), dtype=float)


def _check_pixdim(hdr: Any, name: str) -> None:
    zooms = [float(v) for v in hdr["pixdim"][1:4]]
    if not all(math.isfinite(z) and z > 0 for z in zooms):
        shown = ", ".join(f"{z:g}" for z in zooms)
        raise InputError(
            f"{name} declares non-positive or invalid voxel sizes ({shown} mm)", _HINT_OVERRIDE
        )


def _check_affine(affine: np.ndarray, name: str, source: str) -> None:
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise InputError(f"{name}: the {source} holds non-finite values", _HINT)
    cols = np.linalg.norm(affine[:3, :3], axis=0)
    if np.any(cols < MIN_VOXEL_MM) or np.any(cols > MAX_VOXEL_MM):
        shown = ", ".join(f"{c:.3g}" for c in cols)
        raise InputError(
            f"{name}: the {source} gives implausible voxel sizes ({shown} mm; expected "
            f"{MIN_VOXEL_MM:g}-{MAX_VOXEL_MM:g} mm)",
            _HINT_OVERRIDE,
        )
    volume = abs(float(np.linalg.det(affine[:3, :3])))
    if volume < 1e-3 * float(np.prod(cols)):
        raise InputError(f"{name}: the {source} is singular (its voxel axes are parallel)", _HINT)


def _agree(q: np.ndarray, s: np.ndarray) -> str | None:
    """What differs between qform and sform (``None`` when they describe the same grid)."""
    nq, ns = np.linalg.norm(q[:3, :3], axis=0), np.linalg.norm(s[:3, :3], axis=0)
    if np.any(np.abs(nq - ns) > 0.01 * ns + 1e-4):
        return "voxel sizes"
    if np.max(np.abs(q[:3, :3] / nq - s[:3, :3] / ns)) > 0.02:  # about 1 degree
        return "orientations"
    if np.linalg.norm(q[:3, 3] - s[:3, 3]) > max(1.0, 0.5 * float(ns.min())):
        return "origins"
    return None


def _affine(hdr: Any, name: str) -> tuple[np.ndarray, bool, tuple[str, ...]]:
    s_code, q_code = int(hdr["sform_code"]), int(hdr["qform_code"])
    for code, which in ((s_code, "sform_code"), (q_code, "qform_code")):
        if not 0 <= code <= 5:
            raise InputError(f"{name} has an unknown {which} ({code})", _HINT)
    _check_pixdim(hdr, name)
    if s_code > 0:
        sform = np.asarray(hdr.get_sform(), dtype=float)
        _check_affine(sform, name, "sform")
        if q_code > 0:
            qform = _qform(hdr, name)
            _check_affine(qform, name, "qform")
            what = _agree(qform, sform)
            if what is not None and q_code == s_code:
                raise InputError(
                    f"{name}: the qform and sform of the header disagree ({what}) although "
                    "both claim the same space",
                    "re-export the image, or make them equal (e.g. fslorient -copysform2qform)",
                )
            if what is not None:  # e.g. qform = scanner, sform = template: two spaces
                note = f"qform and sform describe different spaces ({what} differ); sform used"
                return sform, True, (note,)
        return sform, True, ()
    if q_code > 0:
        qform = _qform(hdr, name)
        _check_affine(qform, name, "qform")
        return qform, True, ()
    base = np.asarray(hdr.get_base_affine(), dtype=float)
    _check_affine(base, name, "voxel size (pixdim)")
    return base, False, ()


def qform_represents(qform: np.ndarray, affine: np.ndarray) -> bool:
    """Whether a qform (rotation + zooms, no shear) reproduces ``affine`` (for writers)."""
    return _agree(np.asarray(qform, dtype=float), np.asarray(affine, dtype=float)) is None


def parse_nifti_header(
    fh: io.BufferedIOBase, name: str, file_bytes: int, compressed: bool
) -> NiftiLayout:
    """Read and validate the header at the start of ``fh`` (positioned after it on return)."""
    head = fh.read(540)
    cls, size = _header_class(head, name)
    hdr = cls(head[:size], check=False)
    magic = bytes(hdr["magic"]).rstrip(b"\x00")
    if magic not in (b"n+1", b"n+2"):
        detail = "a .hdr/.img pair" if magic in (b"ni1", b"ni2") else "no NIfTI magic"
        raise InputError(f"{name} is not a valid single-file NIfTI image ({detail})", _HINT)
    shape = _dims(hdr, name)
    dtype = _dtype(hdr, name)
    offset = _offset(hdr, size, name)
    slope, inter = _scaling(hdr, name)
    affine, oriented, notes = _affine(hdr, name)
    if slope is None:
        out_dtype = dtype.newbyteorder("=")
    else:
        out_dtype = np.dtype(np.float64 if dtype.itemsize == 8 else np.float32)
    layout = NiftiLayout(
        (shape[0], shape[1], shape[2]),
        dtype,
        offset,
        slope,
        inter,
        out_dtype,
        affine,
        oriented,
        notes,
    )
    check_declared(name, layout.out_bytes, file_bytes=file_bytes, compressed=compressed)
    if not compressed and file_bytes < offset + layout.raw_bytes:
        raise InputError(
            f"{name} is corrupt or truncated: the header declares "
            f"{format_bytes(layout.raw_bytes)} of voxels after byte {offset}, the file has "
            f"{format_bytes(file_bytes)}",
            "re-export or re-copy the file",
        )
    return layout
