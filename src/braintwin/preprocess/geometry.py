"""Grid geometry: reorientation to RAS, resampling, applying world transforms, field-of-view overlap.

All functions are pure: they return new ``Volume``s and never modify their input. World
coordinates are RAS+ millimetres; transform matrices are 4x4 and map *moving* world points to
*fixed* (reference) world points, as returned by :mod:`braintwin.preprocess.registration`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Volume

__all__ = [
    "apply_transform",
    "bbox_overlap",
    "grid_volume",
    "reorient_ras",
    "resample",
    "spacing_grid",
    "world_bbox",
]

# ITK interpolator per spline order; labels must stay nearest so no new label values appear.
_ORDERS = {0: "sitkNearestNeighbor", 1: "sitkLinear", 3: "sitkBSpline"}


def reorient_ras(vol: Volume) -> Volume:
    """The same image with array axes permuted/flipped so they point (nearest to) R, A, S.

    Exact (no interpolation): only axis permutations and flips, with the affine updated so
    every voxel keeps its world position. An oblique grid stays oblique, its axes merely
    reordered to the closest RAS directions. Returns ``vol`` itself when it is already RAS.
    """
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    ornt = io_orientation(vol.affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return vol
    data = np.ascontiguousarray(apply_orientation(vol.data, ornt))
    affine = vol.affine @ inv_ornt_aff(ornt, vol.shape)
    return Volume(data, affine, vol.modality, dict(vol.meta))


def _interpolator(vol: Volume, order: int | None) -> int:
    import SimpleITK as sitk

    if order is None:
        order = 0 if vol.modality.is_label else 1
    if order not in _ORDERS:
        raise InputError(f"unsupported interpolation order {order}", "use 0, 1 or 3")
    return int(getattr(sitk, _ORDERS[order]))


def _resample_to(
    vol: Volume,
    ref_affine: np.ndarray,
    ref_shape: Sequence[int],
    matrix: np.ndarray | None,
    order: int | None,
) -> Volume:
    """Resample ``vol`` (moved by ``matrix``) onto the grid (ref_affine, ref_shape)."""
    import SimpleITK as sitk

    from braintwin.preprocess.sitk_bridge import (
        affine_from_sitk,
        from_sitk,
        itk_transform_from_matrix,
        to_sitk,
    )

    interp = _interpolator(vol, order)
    label = interp == sitk.sitkNearestNeighbor
    img = to_sitk(vol) if label else to_sitk(vol, np.float32)
    ref = to_sitk(Volume(np.zeros(1, np.uint8).reshape(1, 1, 1), ref_affine))
    tx = itk_transform_from_matrix(np.eye(4) if matrix is None else matrix)
    out = sitk.Resample(
        img,
        [int(s) for s in ref_shape],
        tx,
        interp,
        ref.GetOrigin(),
        ref.GetSpacing(),
        ref.GetDirection(),
        0.0,
        img.GetPixelID(),
    )
    res = from_sitk(out, vol.modality, vol.meta)
    # Keep the caller's exact affine (ITK round-trips it through float64 already, but the
    # reference affine is the contract: outputs must be `same_grid` as the reference).
    if np.allclose(affine_from_sitk(out), ref_affine, atol=1e-4):
        res = Volume(res.data, np.asarray(ref_affine, dtype=float), vol.modality, dict(vol.meta))
    if vol.data.dtype == np.bool_:
        res = res.with_data(res.data.astype(bool))
    return res


def grid_volume(affine: np.ndarray, shape: Sequence[int]) -> Volume:
    """A placeholder uint8 volume that only carries a grid (for ``reference=`` arguments)."""
    return Volume(np.zeros(tuple(int(s) for s in shape), np.uint8), np.asarray(affine, float))


def spacing_grid(vol: Volume, spacing: Sequence[float]) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(affine, shape) of the grid :func:`resample` uses for ``vol`` at ``spacing`` (mm).

    Same axis directions as ``vol``; the outer voxel edges of the first voxel coincide and
    the new grid covers the old field of view (the last voxel may stick out by < 1 voxel).
    """
    sp_new = np.asarray(spacing, dtype=float)
    if sp_new.shape != (3,) or not np.all(np.isfinite(sp_new)) or np.any(sp_new <= 0):
        raise InputError(f"spacing must be three positive numbers in mm, got {spacing!r}")
    sp_old = np.asarray(vol.spacing)
    directions = vol.affine[:3, :3] / sp_old
    extent = np.asarray(vol.shape) * sp_old  # mm covered along each axis
    shape = np.maximum(1, np.ceil(extent / sp_new - 1e-6)).astype(int)
    affine = np.eye(4)
    affine[:3, :3] = directions * sp_new
    # Voxel centres: align the outer edge of voxel 0 with the old grid's outer edge.
    affine[:3, 3] = vol.affine[:3, 3] + directions @ ((sp_new - sp_old) / 2.0)
    return affine, (int(shape[0]), int(shape[1]), int(shape[2]))


def resample(
    vol: Volume,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    reference: Volume | None = None,
    order: int | None = None,
) -> Volume:
    """Resample ``vol`` to a voxel size (mm) or onto the grid of ``reference``.

    Args:
        vol: input volume.
        spacing: target voxel size (mm) along each array axis; ignored when ``reference`` is
            given. The new grid keeps ``vol``'s axis directions and covers the same field of
            view (outer voxel edges aligned; the last voxel may stick out by < 1 voxel).
        reference: resample onto this volume's grid (shape and affine) instead.
        order: 0 nearest, 1 linear, 3 cubic B-spline; default nearest for label/mask
            modalities (``vol.modality.is_label``) and linear otherwise.

    Returns:
        A new volume (float32 for interpolated images, the input dtype for nearest). When
        the grid already matches, ``vol`` itself is returned (no interpolation).
    """
    if reference is not None:
        if vol.same_grid(reference, atol=1e-6):
            return vol
        return _resample_to(vol, reference.affine, reference.shape, None, order)
    affine, shape = spacing_grid(vol, spacing)  # validates spacing
    if np.allclose(vol.spacing, spacing, rtol=0, atol=1e-6):
        return vol
    return _resample_to(vol, affine, shape, None, order)


def apply_transform(
    vol: Volume, matrix: np.ndarray, reference: Volume, *, order: int | None = None
) -> Volume:
    """Move ``vol`` by the world transform ``matrix`` and resample it onto ``reference``'s grid.

    Args:
        vol: the moving volume.
        matrix: 4x4, maps ``vol``'s world points (RAS mm) to ``reference``'s world.
        reference: the volume whose grid (shape, affine) the result is on.
        order: as in :func:`resample`.
    """
    m = np.asarray(matrix, dtype=float)
    if np.allclose(m, np.eye(4), atol=1e-9) and vol.same_grid(reference, atol=1e-6):
        return vol
    return _resample_to(vol, reference.affine, reference.shape, m, order)


def world_bbox(vol: Volume, matrix: np.ndarray | None = None) -> np.ndarray:
    """Axis-aligned world bounding box ((min xyz), (max xyz)) in mm of the field of view.

    Takes the outer voxel edges (not centres); with ``matrix`` the box of the moved grid.
    """
    n = np.asarray(vol.shape, dtype=float)
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]) * n - 0.5
    world = vol.index_to_world(corners)
    if matrix is not None:
        m = np.asarray(matrix, dtype=float)
        world = world @ m[:3, :3].T + m[:3, 3]
    return np.stack([world.min(axis=0), world.max(axis=0)])


def bbox_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Overlap of two world boxes as a fraction (0..1) of the smaller box's volume."""
    lo = np.maximum(a[0], b[0])
    hi = np.minimum(a[1], b[1])
    inter = float(np.prod(np.clip(hi - lo, 0.0, None)))
    smaller = min(float(np.prod(a[1] - a[0])), float(np.prod(b[1] - b[0])))
    return inter / smaller if smaller > 0 else 0.0
