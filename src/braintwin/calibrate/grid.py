"""The reduced grid calibration runs on: a crop around the tumour, block-averaged to ~2 mm.

Why: MCMC needs thousands of forward runs. The tumour and everything it can reach during the
interval lie in a small box; coarsening 1 mm -> 2 mm divides the voxels by 8 and relaxes the
explicit stability bound Δt ≤ h²/(6 D) by 4, so one run costs ~30x less. Masks are averaged
into *fractions inside* (soft targets for the likelihood) rather than re-thresholded, so no
sub-voxel information is thrown away. When the crop would exceed a voxel budget (long gaps,
fast growth) the grid coarsens further instead of becoming slow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from braintwin.errors import InputError

__all__ = ["ReducedGrid", "coarsen_preserving", "make_reduced_grid"]


@dataclass(frozen=True)
class ReducedGrid:
    """A crop ``box`` of a fine grid, coarsened by integer ``factors`` per axis.

    Attributes:
        box: slices on the fine grid (each length a multiple of its factor).
        factors: coarsening factor per axis (1 keeps the axis).
        fine_shape: shape of the full fine grid.
        fine_affine: (4, 4) voxel -> world (mm) of the fine grid.
    """

    box: tuple[slice, slice, slice]
    factors: tuple[int, int, int]
    fine_shape: tuple[int, int, int]
    fine_affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        s = [(b.stop - b.start) // f for b, f in zip(self.box, self.factors, strict=True)]
        return (s[0], s[1], s[2])

    @property
    def affine(self) -> np.ndarray:
        """Coarse voxel -> world (mm); coarse voxel centres sit at fine index f·c + (f-1)/2."""
        f = np.asarray(self.factors, float)
        lo = np.asarray([b.start for b in self.box], float)
        aff = self.fine_affine.copy()
        aff[:3, :3] = self.fine_affine[:3, :3] * f
        aff[:3, 3] = self.fine_affine[:3, :3] @ (lo + (f - 1) / 2) + self.fine_affine[:3, 3]
        return aff

    @property
    def spacing(self) -> tuple[float, float, float]:
        sp = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(sp[0]), float(sp[1]), float(sp[2]))

    def reduce(self, fine: np.ndarray) -> np.ndarray:
        """Block mean of a fine array over the box: (fine_shape) -> (shape), float32."""
        a = np.asarray(fine, np.float32)[self.box]
        n, f = self.shape, self.factors
        return a.reshape(n[0], f[0], n[1], f[1], n[2], f[2]).mean(axis=(1, 3, 5))

    def expand(self, coarse: np.ndarray, *, fill: float = 0.0) -> np.ndarray:
        """Trilinear interpolation of a coarse array back onto the full fine grid (float32).

        Voxels outside the box get ``fill``.
        """
        c = np.asarray(coarse, np.float32)
        if c.shape != self.shape:
            raise InputError(f"coarse array {c.shape} is not on the reduced grid {self.shape}")
        size = [b.stop - b.start for b in self.box]
        coords = [
            (np.arange(n, dtype=np.float32) - (f - 1) / 2) / f
            for n, f in zip(size, self.factors, strict=True)
        ]
        grid = np.meshgrid(*coords, indexing="ij")
        inner = ndi.map_coordinates(c, grid, order=1, mode="nearest")
        out = np.full(self.fine_shape, fill, np.float32)
        out[self.box] = inner
        return out


def coarsen_preserving(block: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Coarsen a density by integer ``factors`` keeping its mass and the volume above any level.

    A block mean dilutes a structure thinner than a coarse voxel (a 2 mm enhancing rim on a
    2-4 mm grid) below the levels it is read at, so a model started from it begins with less
    visible tumour than was measured. Here the coarse voxels keep the block means' *order*
    (where the density is) but take their *values* from the fine density: the fine values,
    sorted, are cut into consecutive groups of one block's size, and the coarse voxel of rank
    r gets the mean of group r. The total mass equals the fine array's, and the volume above
    any level is kept to within one coarse voxel. ``block``'s shape is a multiple of
    ``factors``; returns float32.
    """
    f = [int(v) for v in factors]
    n = [s // v for s, v in zip(block.shape, f, strict=True)]
    a = np.asarray(block, np.float32)
    mean = a.reshape(n[0], f[0], n[1], f[1], n[2], f[2]).mean(axis=(1, 3, 5))
    k = f[0] * f[1] * f[2]
    vals = np.sort(a[a > 0]).astype(np.float64)
    out = np.zeros(mean.size, np.float32)
    if vals.size:
        groups = np.concatenate([np.zeros((-vals.size) % k), vals]).reshape(-1, k).mean(axis=1)
        order = np.argsort(mean.ravel(), kind="stable")
        out[order[-groups.size :]] = groups
    return out.reshape(mean.shape)


def _factors(spacing: Sequence[float], target_mm: float) -> list[int]:
    return [max(1, round(target_mm / float(s))) for s in spacing]


def make_reduced_grid(
    masks: Sequence[np.ndarray],
    brain: np.ndarray,
    fine_affine: np.ndarray,
    *,
    margin_mm: float,
    target_mm: float = 2.0,
    max_voxels: int = 40_000,
) -> ReducedGrid:
    """Crop around the union of ``masks`` grown by ``margin_mm``, clipped to the brain.

    Args:
        masks: boolean fine-grid masks (all visits' tumour regions), shape (nx, ny, nz).
        brain: boolean brain mask, same shape.
        fine_affine: (4, 4) voxel -> world (mm) of the fine grid.
        margin_mm: how far (mm) the tumour may spread beyond its observed extent.
        target_mm: wanted coarse voxel size (mm); anisotropic axes keep factors >= 1.
        max_voxels: coarse voxel budget; the target size is raised until the crop fits.
    """
    union = np.zeros(brain.shape, bool)
    for m in masks:
        if m.shape != brain.shape:
            raise InputError(f"mask {m.shape} and brain mask {brain.shape} are on different grids")
        union |= np.asarray(m, bool)
    if not union.any():
        raise InputError("all tumour masks are empty", "nothing to calibrate or forecast from")
    spacing = np.linalg.norm(np.asarray(fine_affine)[:3, :3], axis=0)
    region = union | np.asarray(brain, bool)
    bidx = np.nonzero(region)
    blo = np.array([int(i.min()) for i in bidx])
    bhi = np.array([int(i.max()) + 1 for i in bidx])
    tidx = np.nonzero(union)
    pad = np.ceil(margin_mm / spacing).astype(int) + 1
    lo = np.maximum(np.array([int(i.min()) for i in tidx]) - pad, blo)
    hi = np.minimum(np.array([int(i.max()) + 1 for i in tidx]) + pad, bhi)
    target = float(target_mm)
    shape = brain.shape
    for _ in range(12):
        f = _factors(spacing, target)
        box = []
        for ax in range(3):
            a, b, fa = int(lo[ax]), int(hi[ax]), f[ax]
            length = int(np.ceil((b - a) / fa) * fa)
            # Grow to a multiple of the factor, shifting inwards at the grid edge.
            a = max(0, min(a, shape[ax] - length))
            b = a + length
            if b > shape[ax]:  # the axis is shorter than one factor multiple: trim
                b = a + ((shape[ax] - a) // fa) * fa
            box.append(slice(a, b))
        grid = ReducedGrid(
            (box[0], box[1], box[2]),
            (f[0], f[1], f[2]),
            (shape[0], shape[1], shape[2]),
            np.asarray(fine_affine, float),
        )
        if min(grid.shape) >= 1 and int(np.prod(grid.shape)) <= max_voxels:
            return grid
        target *= 1.25
    return grid
