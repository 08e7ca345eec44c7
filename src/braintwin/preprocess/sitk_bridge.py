"""Convert between ``Volume`` (RAS+, array (x, y, z)) and ``SimpleITK.Image`` (LPS, array (z, y, x)).

This module is the only place that knows the two conventions, so every other step can work
with ``Volume``s and RAS world matrices:

* World: NIfTI/``Volume`` affines map voxels to RAS+ millimetres; ITK's physical space is LPS+.
  The two differ by ``FLIP = diag(-1, -1, 1)`` on the first two world axes.
* Arrays: ``Volume.data[i, j, k]`` is voxel index (i, j, k); ``sitk.GetArrayFromImage`` returns
  an array indexed ``[k, j, i]``. We transpose, so ITK index (i, j, k) == Volume index (i, j, k).
* Transforms: a braintwin registration matrix ``M`` (4x4) maps a *moving* world point (RAS mm)
  to the corresponding *fixed* world point. ITK resampling transforms go the other way (fixed
  physical point -> moving physical point, LPS); :func:`itk_transform_from_matrix` and
  :func:`matrix_from_itk_transform` convert between the two.

ITK stores a grid as origin + direction (orthonormal) + spacing, so a sheared voxel grid cannot
be represented; such volumes are refused with a hint rather than silently approximated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from braintwin.errors import InputError
from braintwin.types import Modality, Volume

__all__ = [
    "FLIP",
    "affine_from_sitk",
    "from_sitk",
    "itk_transform_from_matrix",
    "matrix_from_itk_transform",
    "ras_to_lps",
    "to_sitk",
]

#: RAS <-> LPS world flip (its own inverse), as a 4x4 homogeneous matrix.
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])

# Voxel types ITK handles natively; everything else is widened to float32.
_ITK_OK = {np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32")}


def ras_to_lps(matrix: np.ndarray) -> np.ndarray:
    """Express a 4x4 world->world matrix given in RAS in LPS (and vice versa: it is symmetric)."""
    return FLIP @ np.asarray(matrix, dtype=float) @ FLIP


def _grid(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spacing, direction, origin) of a RAS affine, expressed for ITK (LPS)."""
    lps = FLIP @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    direction = lps[:3, :3] / spacing
    # ITK needs an orthonormal direction; a sheared grid would be silently distorted.
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise InputError(
            "the voxel grid is sheared (non-orthogonal axes), which ITK cannot represent",
            "resample the image to an orthogonal grid (e.g. with nibabel.processing) first",
        )
    return spacing, direction, lps[:3, 3]


def to_sitk(vol: Volume, dtype: Any = None) -> sitk.Image:
    """A ``SimpleITK.Image`` with the same voxels and world geometry as ``vol``.

    Args:
        vol: any volume with an orthogonal voxel grid.
        dtype: numpy dtype to cast to (e.g. ``np.float32`` for registration); by default
            ITK-native integer types are kept, bool becomes uint8 and the rest float32/64.
    """
    data = vol.data
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    elif data.dtype == np.bool_:
        data = data.astype(np.uint8)
    elif data.dtype not in _ITK_OK and data.dtype.kind in "iu":
        data = data.astype(np.float64 if data.dtype.itemsize > 4 else np.float32)
    spacing, direction, origin = _grid(vol.affine)
    # (x, y, z) -> ITK's (z, y, x) array view; GetImageFromArray copies into ITK's buffer.
    img = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    img.SetSpacing([float(s) for s in spacing])
    img.SetDirection([float(d) for d in direction.ravel()])
    img.SetOrigin([float(o) for o in origin])
    return img


def affine_from_sitk(img: sitk.Image) -> np.ndarray:
    """The RAS voxel->world affine (4x4, mm) of an ITK image."""
    spacing = np.asarray(img.GetSpacing(), dtype=float)
    direction = np.asarray(img.GetDirection(), dtype=float).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing
    lps[:3, 3] = img.GetOrigin()
    return FLIP @ lps


def from_sitk(
    img: sitk.Image, modality: Modality = Modality.OTHER, meta: dict[str, Any] | None = None
) -> Volume:
    """A ``Volume`` from a 3D scalar ``SimpleITK.Image`` (inverse of :func:`to_sitk`)."""
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"expected a 3D scalar image, got {img.GetDimension()}D with "
            f"{img.GetNumberOfComponentsPerPixel()} component(s)"
        )
    data = np.ascontiguousarray(sitk.GetArrayFromImage(img).transpose(2, 1, 0))
    return Volume(data, affine_from_sitk(img), modality, dict(meta or {}))


def itk_transform_from_matrix(matrix: np.ndarray) -> sitk.AffineTransform:
    """ITK resampling transform (fixed LPS -> moving LPS) for a braintwin matrix.

    ``matrix`` maps moving world (RAS mm) -> fixed world (RAS mm); ITK wants the inverse
    mapping in LPS, because resampling pulls values from the moving image.
    """
    m = np.asarray(matrix, dtype=float)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)) or abs(np.linalg.det(m[:3, :3])) < 1e-9:
        raise InputError("a transform must be a finite, invertible 4x4 matrix")
    inv_lps = ras_to_lps(np.linalg.inv(m))
    tx = sitk.AffineTransform(3)
    tx.SetMatrix([float(v) for v in inv_lps[:3, :3].ravel()])
    tx.SetTranslation([float(v) for v in inv_lps[:3, 3]])
    return tx


def matrix_from_itk_transform(tx: sitk.Transform) -> np.ndarray:
    """braintwin matrix (moving RAS -> fixed RAS, 4x4) from an ITK resampling transform.

    Works for any linear ITK transform (Euler, similarity, affine, composites of them):
    the transform is probed at four points, which determine an affine map exactly.
    """
    probes = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    mapped = np.array([tx.TransformPoint([float(v) for v in p]) for p in probes])
    fwd_lps = np.eye(4)  # fixed LPS -> moving LPS
    fwd_lps[:3, 3] = mapped[0]
    fwd_lps[:3, :3] = (mapped[1:] - mapped[0]).T
    return np.linalg.inv(ras_to_lps(fwd_lps))
