"""The density profile of a tumour as the model grows it: the shape behind a segmentation.

A segmentation shows only where the cell density crosses the detection thresholds. What lies
between and beyond them is set by the model itself: a Fisher-Kolmogorov tumour grown from a
small seed develops a travelling-wave profile, near carrying capacity in the core and decaying
ahead of the front over the length sqrt(D/ρ) (Murray, Mathematical Biology I, ch. 13;
Konukoglu et al. 2010 IEEE TMI; Harpold et al. 2007 use the T1Gd/T2 radii gap to estimate
D/ρ because of it). Before the wave is fully formed (small tumours, diffuse ones) the profile
is flatter than the asymptotic wave. So instead of a fixed shape this module grows a
**spherical tumour from a small seed** (radial finite volumes, the same reaction as the 3D
solver) until its visible radius (u >= the anchor threshold) equals the segmented tumour's
equivalent-sphere radius, and reads the profile off as a function of the distance to that
visible edge. :func:`geometry_density` maps it onto a segmentation by signed distance: the
observed visible regions are kept (core near capacity, edema between the thresholds) and the
profile supplies what imaging cannot see, the core's interior and the infiltration beyond the
visible edge.

The result depends on (D, ρ): calibration builds the initial condition anew for every
parameter sample, so the starting state is always the one those parameters would have grown
(joint inference of the initial condition; see ``calibrate.forward``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from braintwin.errors import InputError
from braintwin.growth.logistic import reaction_coefficients

__all__ = [
    "SEED_DENSITY",
    "SEED_RADIUS_MM",
    "RadialProfile",
    "SegmentationGeometry",
    "equivalent_radius_mm",
    "geometry_density",
    "radial_profile",
    "segmentation_geometry",
]

SEED_RADIUS_MM = 2.0  # the seed: a small ball at half the carrying capacity
SEED_DENSITY = 0.5
_FLOOR = 1e-5  # densities below this are set to 0 (as the 3D solver's crop ignores them)
_MAX_DAYS = 365.0 * 40  # a tumour that needs longer than this to reach its size is not grown on


@dataclass(frozen=True)
class RadialProfile:
    """u as a function of the signed distance s to the visible edge (mm; > 0 outside)."""

    s_mm: np.ndarray
    u: np.ndarray
    days: float  # time the seed took to grow to this size
    reached: bool  # False: _MAX_DAYS passed before the visible radius reached the target

    def __call__(self, s: np.ndarray) -> np.ndarray:
        out = np.interp(s, self.s_mm, self.u, left=float(self.u[0]), right=0.0)
        out[out < _FLOOR] = 0.0
        return out

    @property
    def reach_mm(self) -> float:
        """Largest s with u above the floor (how far the invisible tail reaches)."""
        above = np.nonzero(self.u >= _FLOOR)[0]
        return float(self.s_mm[above[-1]]) if above.size else 0.0


def _grow_kernel() -> Any:
    import numba

    @numba.njit(cache=True)
    def grow(u, coef, e_fac, c_fac, threshold, target_idx_pos, max_steps, check):
        n = u.shape[0]
        new = np.empty_like(u)
        for step in range(max_steps):
            for i in range(n):
                left = u[i - 1] if i > 0 else u[i]
                right = u[i + 1] if i < n - 1 else u[i]
                v = u[i] + coef[i, 0] * (right - u[i]) - coef[i, 1] * (u[i] - left)
                new[i] = e_fac * v / (1.0 + c_fac * v)
            u[:] = new
            if step % check == 0:
                # visible edge position in cells (first cell below threshold)
                k = 0
                while k < n and u[k] >= threshold:
                    k += 1
                if k >= target_idx_pos:
                    return step + 1
        return max_steps

    return grow


_KERNEL = None


@functools.lru_cache(maxsize=4096)
def _profile_cached(
    D: float, rho: float, radius_mm: float, threshold: float, grid_mm: float
) -> RadialProfile:
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _grow_kernel()
    width = math.sqrt(D / rho)
    # Resolve the front (L/4) but never finer than the model's own grid: on a grid coarser than
    # sqrt(D/ρ) the discrete model's front is shaped by the grid, and the initial state must be
    # the one that model would have grown.
    dr = max(float(np.clip(width / 4.0, 0.1, 1.0)), grid_mm)
    r_max = radius_mm + 12.0 * width + 20.0
    n = math.ceil(r_max / dr) + 1
    i = np.arange(n, dtype=np.float64)
    # Spherical shells: volume ∝ (i+1)³ - i³, face area ∝ (i+1)² (outer) and i² (inner).
    vol = (i + 1) ** 3 - i**3
    dt = 0.9 * dr * dr / (3.0 * D)  # explicit stability at the centre (coefficient 3 D/dr²)
    coef = np.empty((n, 2))
    coef[:, 0] = D * dt / dr**2 * 3.0 * (i + 1) ** 2 / vol
    coef[:, 1] = D * dt / dr**2 * 3.0 * i**2 / vol
    coef[-1, 0] = 0.0  # no flux at the far end
    e, c = reaction_coefficients(rho, 0.0, dt)
    r = (i + 0.5) * dr
    # The seed: SEED_DENSITY in a ball of SEED_RADIUS_MM, i.e. its cell mass, spread over the
    # innermost shells (on coarse radial grids the first shell is larger than the ball).
    shell = 4.0 / 3.0 * math.pi * dr**3 * vol
    mass = SEED_DENSITY * 4.0 / 3.0 * math.pi * SEED_RADIUS_MM**3
    u = np.zeros(n)
    for k in range(n):
        take = min(SEED_DENSITY * shell[k], mass)
        u[k] = take / shell[k]
        mass -= take
        if mass <= 0:
            break
    target = radius_mm / dr - 0.5  # the edge lies between cell centres
    max_steps = int(_MAX_DAYS / dt) + 1
    steps = _KERNEL(u, coef, e, c, threshold, math.ceil(target), max_steps, 8)
    reached = steps < max_steps
    above = np.nonzero(u >= threshold)[0]
    edge = (above[-1] + 1) * dr if above.size else 0.0
    # Edge position by linear interpolation between the last cell above and the first below.
    if above.size and above[-1] + 1 < n:
        k = int(above[-1])
        a, b = u[k], u[k + 1]
        edge = r[k] + (a - threshold) / max(a - b, 1e-12) * dr
    return RadialProfile(r - edge, u.copy(), steps * dt, bool(reached))


def radial_profile(
    D: float, rho: float, radius_mm: float, threshold: float, *, grid_mm: float = 0.0
) -> RadialProfile:
    """Profile of a seed-grown spherical tumour whose ``u >= threshold`` radius is ``radius_mm``.

    ``grid_mm``: spacing of the grid the model will run on; the radial grid is never finer
    (so the profile has the front the discrete 3D model develops there).

    Inputs are rounded (3 significant digits, radius to 0.25 mm) so repeated calls share a cache.
    """
    if D <= 0 or rho <= 0 or radius_mm <= 0 or not 0 < threshold < 1:
        raise InputError("radial profile needs D > 0, rho > 0, radius > 0, 0 < threshold < 1")

    def sig(x: float) -> float:
        return float(f"{x:.3g}")

    return _profile_cached(
        sig(D), sig(rho), max(0.25, round(radius_mm * 4) / 4), threshold, round(grid_mm, 2)
    )


@dataclass(frozen=True)
class SegmentationGeometry:
    """Distances (mm) of every voxel of a (cropped) grid to a segmentation's visible regions.

    Attributes:
        core, whole: tumour core TC (labels 1, 4; a binary mask counts as core) and whole
            tumour WT masks; ``has_edema``: WT extends beyond TC (FLAIR information exists).
        s_core: signed distance to the core's visible edge (mm, > 0 outside), or None.
        s_whole: signed distance to the whole tumour's visible edge (mm, > 0 outside).
        edema_fraction: in the edema, 0 at the core's edge rising to 1 at the whole tumour's.
        r_core, r_whole: equivalent-sphere radii (mm) of TC and WT on the full grid.
    """

    core: np.ndarray
    whole: np.ndarray
    has_edema: bool
    s_core: np.ndarray | None
    s_whole: np.ndarray
    edema_fraction: np.ndarray | None
    r_core: float
    r_whole: float


def _signed(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    half = 0.5 * min(spacing)  # the visible edge lies half a voxel beyond the last centre
    d_out = ndimage.distance_transform_edt(~mask, sampling=spacing)
    d_in = ndimage.distance_transform_edt(mask, sampling=spacing)
    return np.where(mask, -(d_in - half), d_out - half).astype(np.float32)


def segmentation_geometry(
    labels: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    radii: tuple[float, float] | None = None,
) -> SegmentationGeometry:
    """Distances to TC and WT of ``labels`` (``radii``: their equivalent radii when ``labels``
    is a crop of a larger grid; default from ``labels``)."""
    whole = labels > 0
    if not whole.any():
        raise InputError(
            "segmentation has no tumour voxels", "nothing to start a growth model from"
        )
    core = np.isin(labels, (1, 4))
    r_core, r_whole = radii or (
        equivalent_radius_mm(core, spacing),
        equivalent_radius_mm(whole, spacing),
    )
    has_edema = bool(np.any(whole & ~core))
    s_core = _signed(core, spacing) if core.any() else None
    s_whole = _signed(whole, spacing) if has_edema or s_core is None else s_core
    frac = None
    if has_edema and s_core is not None:
        d_core = np.maximum(s_core, 0.0)
        d_edge = np.maximum(-s_whole, 0.0)
        frac = d_core / np.maximum(d_core + d_edge, 1e-9)
    return SegmentationGeometry(core, whole, has_edema, s_core, s_whole, frac, r_core, r_whole)


def equivalent_radius_mm(mask: np.ndarray, spacing: tuple[float, float, float]) -> float:
    """Radius (mm) of the sphere with the mask's volume."""
    vol = float(np.count_nonzero(mask)) * float(np.prod(spacing))
    return float((3.0 * vol / (4.0 * math.pi)) ** (1.0 / 3.0))


def geometry_density(
    geo: SegmentationGeometry,
    D: float,
    rho: float,
    enhancing: float,
    flair: float,
    *,
    grid_mm: float = 0.0,
) -> np.ndarray:
    """Initial density (float32) consistent with the segmentation and with (D, ρ).

    * tumour core: the seed-grown profile of (D, ρ) anchored at the core's edge (exactly the
      T1ce threshold there, rising towards carrying capacity inside);
    * edema: decays geometrically from the T1ce to the FLAIR threshold across the observed
      edema (its extent is observed, so it is kept);
    * beyond the visible edge: invisible infiltration decaying from the FLAIR threshold with
      the travelling-wave length sqrt(D/ρ) (Konukoglu et al. 2010).

    ``grid_mm``: spacing of the grid the model runs on (see :func:`radial_profile`).
    """
    hi, lo = enhancing * 1.001, flair * 1.001
    u = np.zeros(geo.whole.shape, dtype=np.float64)
    if geo.s_core is not None:
        core_prof = radial_profile(D, rho, max(geo.r_core, 0.25), enhancing, grid_mm=grid_mm)
        s = np.maximum(geo.s_core[geo.core], -geo.r_core)
        u[geo.core] = np.maximum(core_prof(s), hi)
    edema = geo.whole & ~geo.core
    if edema.any():
        if geo.edema_fraction is not None:
            top, bottom = enhancing * 0.999, lo
            u[edema] = top * (bottom / top) ** geo.edema_fraction[edema]
        else:  # no core: the whole-tumour profile inside, kept between the thresholds
            wt_prof = radial_profile(D, rho, max(geo.r_whole, 0.25), flair, grid_mm=grid_mm)
            s = np.maximum(geo.s_whole[edema], -geo.r_whole)
            u[edema] = np.clip(wt_prof(s), lo, enhancing * 0.999)
    # Beyond the visible edge: the travelling wave's exponential tail, length sqrt(D/ρ)
    # (clipped to 0.5-20 mm), from just below the FLAIR threshold. (A tail taken from the
    # seed-grown profile was tried: on the synthetic coverage benchmark it made D_w's 90 %
    # intervals cover only 6-7 of 12 truths, against 88 % with this one; docs/calibration.md.)
    out = ~geo.whole
    width = float(np.clip(math.sqrt(D / rho), 0.5, 20.0))
    u[out] = flair * 0.999 * np.exp(-np.maximum(geo.s_whole[out], 0.0) / width)
    u[u < _FLOOR] = 0.0
    return u.astype(np.float32)
