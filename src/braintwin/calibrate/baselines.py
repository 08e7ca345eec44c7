"""Reference forecasts that the twin must beat, and the scores used to compare them.

* ``no_growth``: the follow-up mask equals the baseline mask.
* ``uniform_expansion``: the baseline mask grown isotropically by ``rate * days`` millimetres,
  measured with a Euclidean distance transform in mm on the (anisotropic) voxel grid. The rate is
  a population number fitted on training pairs by :func:`fit_expansion_rate`.

Each kernel has a readable reference form (``*_reference``: brute force over voxel pairs) and
the fast form (distance transform); tests check that they agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from braintwin.errors import InputError
from braintwin.segment.metrics import dice

__all__ = [
    "dice",
    "expand_mask",
    "expand_mask_reference",
    "fit_expansion_rate",
    "no_growth",
    "uniform_expansion",
    "volume_error",
]


def volume_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Relative absolute volume error |V_pred - V_true| / V_true (dimensionless).

    Voxel size cancels, so this is independent of the spacing override. When the true mask is
    empty the error is the predicted voxel count relative to one voxel (never NaN).
    """
    vp, vt = float(np.count_nonzero(pred)), float(np.count_nonzero(truth))
    return abs(vp - vt) / max(vt, 1.0)


def expand_mask(
    mask: np.ndarray, distance_mm: float, spacing: Sequence[float], domain: np.ndarray | None = None
) -> np.ndarray:
    """Voxels within ``distance_mm`` (mm) of ``mask`` (fast: one distance transform).

    Args:
        mask: boolean (nx, ny, nz).
        distance_mm: expansion distance in mm (>= 0; 0 returns a copy).
        spacing: voxel size (mm) per axis.
        domain: optional boolean mask the result is clipped to (e.g. the head).
    """
    m = np.asarray(mask, bool)
    if distance_mm < 0 or not np.isfinite(distance_mm):
        raise InputError(f"expansion distance must be finite and >= 0, got {distance_mm}")
    if distance_mm == 0 or not m.any():
        out = m.copy()
    else:
        dist = ndi.distance_transform_edt(~m, sampling=tuple(float(s) for s in spacing))
        out = np.asarray(dist) <= distance_mm
    return out if domain is None else out & np.asarray(domain, bool) | m


def expand_mask_reference(
    mask: np.ndarray, distance_mm: float, spacing: Sequence[float]
) -> np.ndarray:
    """Readable O(N·M) form of :func:`expand_mask` for small test arrays."""
    m = np.asarray(mask, bool)
    sp = np.asarray(spacing, float)
    src = np.argwhere(m) * sp
    out = np.zeros_like(m)
    if len(src) == 0:
        return out
    for idx in np.ndindex(m.shape):
        d = np.sqrt(((src - np.asarray(idx) * sp) ** 2).sum(axis=1)).min()
        out[idx] = d <= distance_mm
    return out


def no_growth(baseline: np.ndarray) -> np.ndarray:
    """The follow-up forecast of the no-growth baseline: the baseline mask itself."""
    return np.asarray(baseline, bool).copy()


def uniform_expansion(
    baseline: np.ndarray,
    days: float,
    rate_mm_per_day: float,
    spacing: Sequence[float],
    domain: np.ndarray | None = None,
) -> np.ndarray:
    """Baseline mask expanded isotropically by ``rate_mm_per_day * days`` mm."""
    if days < 0:
        raise InputError(f"forecast interval must be >= 0 days, got {days}")
    return expand_mask(baseline, rate_mm_per_day * days, spacing, domain)


def fit_expansion_rate(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, float, Sequence[float]]],
    *,
    max_rate_mm_per_day: float = 1.0,
    n_grid: int = 201,
) -> float:
    """Radial rate (mm/day) maximising the mean Dice of ``uniform_expansion`` on training pairs.

    Args:
        pairs: (baseline mask, follow-up mask, interval days, spacing mm) per training pair.
        max_rate_mm_per_day: upper end of the searched grid [0, max] (linear, ``n_grid`` points).

    A 1D grid search is exact up to the grid step and cannot get stuck, unlike a local optimiser
    on this piecewise-constant objective. One distance transform per pair is reused for all rates.
    """
    if not pairs:
        raise InputError("no training pairs to fit the expansion rate")
    rates = np.linspace(0.0, max_rate_mm_per_day, n_grid)
    scores = np.zeros_like(rates)
    for pre, post, days, spacing in pairs:
        pre_b, post_b = np.asarray(pre, bool), np.asarray(post, bool)
        if not pre_b.any():
            continue
        dist = np.asarray(ndi.distance_transform_edt(~pre_b, sampling=tuple(spacing)))
        # Dice as a function of the radius: count voxels of the truth within each radius.
        d_post = np.sort(dist[post_b])
        d_all = np.sort(dist.ravel())
        radii = rates * days
        n_pred = np.searchsorted(d_all, radii, side="right")
        n_inter = np.searchsorted(d_post, radii, side="right")
        scores += 2.0 * n_inter / np.maximum(n_pred + post_b.sum(), 1)
    return float(rates[int(np.argmax(scores))])
