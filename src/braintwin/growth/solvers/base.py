"""The solver contract shared by every backend.

A solver advances the fused explicit step of the Fisher-Kolmogorov equation on a box

    v = u + dt · div(D grad u)          (finite volumes, harmonic-mean face diffusivities)
    u <- E v / (1 + c v)                (exact logistic/kill reaction, see growth.logistic)

Arrays are (nx, ny, nz) with a one-voxel **halo**: the outermost layer has D = 0 and u = 0, so
every face touching it carries no flux (no-flux brain boundary; brain exterior also has D = 0).
Solvers update the interior only and must leave the halo at 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["Solver", "harmonic_faces", "stable_dt"]


class Solver(Protocol):
    """A time-stepping backend (registered in ``braintwin.growth.SOLVERS``)."""

    name: str
    dtype: type[np.floating[Any]]

    def prepare(
        self, D: np.ndarray, spacing_mm: Sequence[float], active: np.ndarray | None = None
    ) -> Any:
        """Precompute whatever depends on D (mm²/day, halo included) and the spacing (mm);
        ``active`` (bool, same shape) marks the cells that may change (the brain)."""
        ...

    def cells(self, state: Any) -> int:
        """How many cells one step updates (for honest throughput figures)."""
        ...

    def advance(
        self, state: Any, u: np.ndarray, n_steps: int, dt: float, e: float, c: float
    ) -> np.ndarray:
        """Take ``n_steps`` steps of ``dt`` days; returns the new u (may reuse buffers)."""
        ...


def harmonic_faces(D: np.ndarray, spacing_mm: Sequence[float]) -> list[np.ndarray]:
    """Face conductances per axis, ``2 D_i D_j / (D_i + D_j) / h²`` (1/day), shape of D.

    Entry ``[i]`` along axis a is the face between voxels i and i+1; the last one is 0. The
    harmonic mean is the flux-continuous choice at tissue interfaces and is 0 whenever either
    side has D = 0, which makes the brain boundary no-flux (Swanson et al. 2000).
    """
    out = []
    d = D.astype(np.float64)
    for axis, h in enumerate(spacing_mm):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        a, b = d[tuple(lo)], d[tuple(hi)]
        s = a + b
        face = np.zeros_like(d)
        face[tuple(lo)] = np.divide(2 * a * b, s, out=np.zeros_like(s), where=s > 0) / (h * h)
        out.append(face.astype(D.dtype))
    return out


def stable_dt(d_max: float, spacing_mm: Sequence[float]) -> float:
    """Largest stable explicit step (days): dt · 2 D_max Σ 1/h² <= 1, i.e. h²/(6 D) if isotropic.

    Under it the update is a convex combination of neighbours, so u stays in [0, 1].
    """
    if d_max <= 0:
        return float("inf")
    return 1.0 / (2.0 * d_max * sum(1.0 / (h * h) for h in spacing_mm))
