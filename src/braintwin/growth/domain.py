"""The simulation domain: brain mask, tissue fractions and grid geometry.

Diffusivity is D(x) = D_w · (wm(x) + gm_ratio · gm(x) + csf_ratio · csf(x)) inside the brain
and 0 outside (Swanson et al. 2000; Lipková et al. 2019). The domain stores tissue fractions,
not D, so calibration can vary D_w and the ratios without rebuilding it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from braintwin.errors import InputError, ModelError
from braintwin.growth.parameters import GrowthParameters
from braintwin.types.volume import Modality, Volume, spacing_of, voxel_volume_of

__all__ = ["Box", "Domain"]

Box = tuple[slice, slice, slice]


@dataclass(frozen=True, eq=False)
class Domain:
    """Brain domain on a voxel grid.

    Attributes:
        mask: bool (nx, ny, nz), True inside the brain (no-flux boundary around it).
        wm, gm, csf: float32 (nx, ny, nz) tissue fractions in [0, 1], zero outside the mask.
        affine: (4, 4) voxel -> world (mm) transform of the grid.
    """

    mask: np.ndarray
    wm: np.ndarray
    gm: np.ndarray
    csf: np.ndarray
    affine: np.ndarray

    def __post_init__(self) -> None:
        shape = self.mask.shape
        for name in ("wm", "gm", "csf"):
            arr = getattr(self, name)
            if arr.shape != shape:
                raise InputError(f"{name} map {arr.shape} does not match brain mask {shape}")
        if not self.mask.any():
            raise InputError("brain mask is empty", "compute the brain mask first")

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_tissue_maps(
        cls, wm: Volume, gm: Volume, csf: Volume | None, brain_mask: Volume
    ) -> Domain:
        """Domain from tissue probability maps on the brain mask's grid.

        Probabilities are renormalised so wm + gm + csf = 1 in the brain; ``csf=None`` means
        CSF = 1 - wm - gm. Voxels of the mask with no tissue at all count as white matter.
        """
        for name, v in (("wm", wm), ("gm", gm), ("csf", csf)):
            if v is not None and not v.same_grid(brain_mask):
                raise InputError(f"{name} map is not on the brain mask's grid", "resample it first")
        mask = np.asarray(brain_mask.data) > 0
        w = np.clip(np.asarray(wm.data, dtype=np.float32), 0, 1)
        g = np.clip(np.asarray(gm.data, dtype=np.float32), 0, 1)
        c = (
            np.clip(1.0 - w - g, 0, 1).astype(np.float32)
            if csf is None
            else np.clip(np.asarray(csf.data, dtype=np.float32), 0, 1)
        )
        total = w + g + c
        empty = total <= 1e-6
        w = np.where(empty, np.float32(1), w)
        total = np.where(empty, np.float32(1), total)
        fr = [np.where(mask, a / total, 0).astype(np.float32) for a in (w, g, c)]
        return cls(mask, fr[0], fr[1], fr[2], brain_mask.affine.copy())

    @classmethod
    def homogeneous(cls, brain_mask: Volume) -> Domain:
        """Every brain voxel is white matter (D = D_w everywhere inside the mask)."""
        mask = np.asarray(brain_mask.data) > 0
        zero = np.zeros(mask.shape, dtype=np.float32)
        return cls(mask, mask.astype(np.float32), zero, zero.copy(), brain_mask.affine.copy())

    # -- geometry -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.mask.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size per array axis (mm)."""
        return spacing_of(self.affine)

    @property
    def voxel_volume_mm3(self) -> float:
        return voxel_volume_of(self.affine)

    def volume(self, data: np.ndarray, modality: Modality = Modality.DENSITY) -> Volume:
        """Wrap an array of this grid's shape as a ``Volume``."""
        return Volume(data, self.affine.copy(), modality)

    def mask_volume(self) -> Volume:
        return self.volume(self.mask.astype(np.uint8), Modality.MASK)

    def check_grid(self, vol: Volume, what: str) -> None:
        """Raise ``InputError`` unless ``vol`` lies on this domain's grid."""
        if vol.shape != self.shape or not np.allclose(vol.affine, self.affine, atol=1e-3):
            raise InputError(
                f"{what} grid {vol.shape} does not match the domain grid {self.shape}",
                "resample it onto the domain (same shape and affine)",
            )

    def diffusivity(self, params: GrowthParameters, box: Box | None = None) -> np.ndarray:
        """D(x) in mm²/day (float32), 0 outside the brain; optionally only on ``box``."""
        b = box if box is not None else (slice(None),) * 3
        d: np.ndarray = self.wm[b] + np.float32(params.gm_ratio) * self.gm[b]
        if params.csf_ratio > 0:
            d = d + np.float32(params.csf_ratio) * self.csf[b]
        return (np.float32(params.D_w) * d * self.mask[b]).astype(np.float32)

    def world_to_voxel(self, point_mm: Sequence[float]) -> tuple[int, int, int]:
        """Nearest voxel of a world point (mm); ``ModelError`` if it is not in the brain."""
        inv = np.linalg.inv(self.affine)
        ijk = np.rint(inv[:3, :3] @ np.asarray(point_mm, float) + inv[:3, 3]).astype(int)
        i, j, k = (int(x) for x in ijk)
        if not all(0 <= a < n for a, n in zip((i, j, k), self.shape, strict=True)):
            raise ModelError(f"point {tuple(point_mm)} mm lies outside the image grid")
        if not self.mask[i, j, k]:
            raise ModelError(
                f"seed {tuple(point_mm)} mm (voxel {(i, j, k)}) lies outside the brain",
                "choose a seed inside the brain mask",
            )
        return i, j, k

    def crop(self, box: Box) -> Domain:
        """The sub-domain on ``box`` (affine shifted so world coordinates are unchanged)."""
        lo = np.array([s.start or 0 for s in box], dtype=float)
        aff = self.affine.copy()
        aff[:3, 3] = self.affine[:3, :3] @ lo + self.affine[:3, 3]
        return Domain(
            self.mask[box].copy(),
            self.wm[box].copy(),
            self.gm[box].copy(),
            self.csf[box].copy(),
            aff,
        )

    def bounding_box(self, pad: int = 1) -> Box:
        """Bounding box of the brain mask grown by ``pad`` voxels (clipped to the grid)."""
        idx = np.nonzero(self.mask)
        return tuple(
            slice(max(0, int(i.min()) - pad), min(n, int(i.max()) + pad + 1))
            for i, n in zip(idx, self.shape, strict=True)
        )  # type: ignore[return-value]

    def coarsen(self, factor: int) -> Domain:
        """Block-average by an integer ``factor`` per axis (e.g. 1 mm -> 2 mm for calibration).

        A coarse voxel is brain when at least half its fine voxels are; tissue fractions are
        block means renormalised over the brain part.
        """
        if factor < 1:
            raise ModelError(f"coarsening factor must be >= 1, got {factor}")
        if factor == 1:
            return self
        n = [s // factor for s in self.shape]
        if min(n) < 1:
            raise ModelError(f"grid {self.shape} too small to coarsen by {factor}")

        def pool(a: np.ndarray) -> np.ndarray:
            a = a[: n[0] * factor, : n[1] * factor, : n[2] * factor].astype(np.float32)
            return a.reshape(n[0], factor, n[1], factor, n[2], factor).mean(axis=(1, 3, 5))

        frac = pool(self.mask)
        mask = frac >= 0.5
        safe = np.maximum(frac, 1e-6)
        fr = [
            np.where(mask, pool(a) / safe, 0).astype(np.float32)
            for a in (self.wm, self.gm, self.csf)
        ]
        total = fr[0] + fr[1] + fr[2]
        total = np.where(total > 1e-6, total, 1)
        fr = [(a / total).astype(np.float32) for a in fr]
        aff = self.affine.copy()
        aff[:3, :3] = self.affine[:3, :3] * factor
        # Voxel centres: the coarse voxel (0,0,0) centre sits at fine index (factor-1)/2.
        aff[:3, 3] = self.affine[:3, :3] @ np.full(3, (factor - 1) / 2) + self.affine[:3, 3]
        return Domain(mask, fr[0], fr[1], fr[2], aff)
