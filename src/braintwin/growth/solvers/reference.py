"""Reference solver: a readable NumPy finite-volume step, float64."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ReferenceSolver", "reference_step"]


def reference_step(
    u: np.ndarray, D: np.ndarray, spacing_mm: Sequence[float], dt: float, e: float, c: float
) -> np.ndarray:
    """One step: explicit finite-volume diffusion then the exact reaction map.

    For each face between neighbours i and j the flux is ``D_face (u_j - u_i) / h`` with
    ``D_face = 2 D_i D_j / (D_i + D_j)``; what leaves one voxel enters the other, so with
    rho = 0 the total sum(u) is conserved to round-off.
    """
    div = np.zeros_like(u)
    for axis, h in enumerate(spacing_mm):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        d_lo, d_hi = D[tuple(lo)], D[tuple(hi)]
        total = d_lo + d_hi
        d_face = np.divide(2 * d_lo * d_hi, total, out=np.zeros_like(total), where=total > 0)
        flux = d_face * (u[tuple(hi)] - u[tuple(lo)]) / (h * h)
        div[tuple(lo)] += flux
        div[tuple(hi)] -= flux
    v = u + dt * div
    return e * v / (1.0 + c * v)


class ReferenceSolver:
    """Readable NumPy solver (float64); the ground truth the fast backends are tested against."""

    name = "reference"
    dtype: type[np.floating[Any]] = np.float64

    def cells(self, state: Any) -> int:
        """All interior cells are updated every step."""
        return int(np.prod([s - 2 for s in state[0].shape]))

    def prepare(
        self, D: np.ndarray, spacing_mm: Sequence[float], active: np.ndarray | None = None
    ) -> Any:
        return (D.astype(np.float64), tuple(float(h) for h in spacing_mm))

    def advance(
        self, state: Any, u: np.ndarray, n_steps: int, dt: float, e: float, c: float
    ) -> np.ndarray:
        D, spacing = state
        for _ in range(n_steps):
            u = reference_step(u, D, spacing, dt, e, c)
        return u
