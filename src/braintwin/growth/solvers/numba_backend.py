"""Fast CPU solver: a fused numba kernel (stencil + exact reaction), parallel over x-slabs.

Face conductances are precomputed once per crop box; each pass over memory streams u and
three face arrays and writes the output once while making two time steps (the first step's
slabs live in a small per-thread ring, in cache): 10 bytes per cell update in float32, one
division per update (the reaction). Rows (along z) that miss the brain are skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from braintwin.growth.solvers.base import harmonic_faces

__all__ = ["BYTES_PER_CELL_UPDATE", "LAUNCH_LOCK", "NumbaSolver", "row_extents"]

# Minimal traffic of one cell update: read u, cx, cy, cz and write u_new (float32) once per
# pass, and a pass makes two updates (temporal blocking): 20 bytes / 2.
BYTES_PER_CELL_UPDATE = 5 * 4 // 2

LAUNCH_LOCK = threading.Lock()

# Boxes smaller than this run single-threaded (thread start-up outweighs the work).
SERIAL_BELOW_CELLS = 32_768


def row_extents(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (i, j) row, the half-open k-range [lo, hi) spanning its active cells (int32,
    shape (nx, ny)); empty rows get lo = hi = 0. The halo (outer layer) is never active."""
    act = np.asarray(active, dtype=bool).copy()
    act[[0, -1]] = False
    act[:, [0, -1]] = False
    act[:, :, [0, -1]] = False
    anyk = act.any(axis=2)
    nz = act.shape[2]
    first = np.argmax(act, axis=2)
    last = nz - 1 - np.argmax(act[:, :, ::-1], axis=2)
    lo = np.where(anyk, first, 0).astype(np.int32)
    hi = np.where(anyk, last + 1, 0).astype(np.int32)
    return lo, hi


class NumbaSolver:
    """Fused float32 stencil + reaction kernel, ``numba.prange`` over the x axis."""

    name = "numba"
    dtype: type[np.floating[Any]] = np.float32

    def prepare(
        self, D: np.ndarray, spacing_mm: Sequence[float], active: np.ndarray | None = None
    ) -> Any:
        faces = harmonic_faces(D.astype(np.float32), spacing_mm)
        klo, khi = row_extents(D > 0 if active is None else active)
        return [np.ascontiguousarray(f, dtype=np.float32) for f in faces] + [
            np.zeros(D.shape, dtype=np.float32),  # spare output buffer, halo stays 0
            klo,
            khi,
        ]

    def cells(self, state: Any) -> int:
        """Cell updates per step: every interior cell of the rows that meet the brain."""
        nz = state[0].shape[2]
        return int(np.count_nonzero(state[5])) * (nz - 2)

    def advance(
        self, state: Any, u: np.ndarray, n_steps: int, dt: float, e: float, c: float
    ) -> np.ndarray:
        cx, cy, cz, spare, klo, khi = state
        a = np.ascontiguousarray(u, dtype=np.float32)
        f32 = np.float32
        from braintwin.growth.solvers import _numba_kernels as nk

        args = (a, spare, cx, cy, cz, klo, khi, n_steps, f32(dt), f32(e), f32(c))
        threads = nk.numba.get_num_threads()
        if a.size < SERIAL_BELOW_CELLS or threads == 1:
            odd = nk.run_serial(*args)
        else:
            with LAUNCH_LOCK:  # one parallel launch at a time (workqueue is not re-entrant)
                odd = nk.run_parallel(*args, threads)
        if odd:  # result is in the spare buffer; the old u becomes the spare
            state[3] = a
            return spare
        return a
