"""numba kernels of the fast solver (imported lazily: importing numba costs ~0.5 s).

``_step`` is one fused update on a padded box (see ``solvers.base`` for the halo contract);
``_two_steps`` makes two updates per pass over memory (temporal blocking); ``run_*`` chain
them. Parallel and serial builds of the same source: small boxes skip the thread start-up.
"""

from __future__ import annotations

import os
import types
from typing import Any

import numba
import numpy as np
from numba import njit, prange

# Threading layer: numba's own "workqueue" pool blocks idle workers instead of spinning. On a
# shared 2-core machine (load ~10) the default OpenMP layer's spin-waiting made a 2 mm
# simulated year 5-6 s instead of 0.4-0.6 s (measured with this package, same run). Only
# chosen when the user has not picked a layer and before any parallel launch; workqueue is
# not re-entrant, so ``numba_backend`` serialises launches with a lock.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]

__all__ = [
    "run_parallel",
    "run_serial",
    "step_parallel",
    "step_serial",
    "triad",
    "two_parallel",
    "two_serial",
]


def _step(u, cx, cy, cz, klo, khi, out, dt, e, c):
    nx, ny, nz = u.shape
    for i in prange(1, nx - 1):
        for j in range(1, ny - 1):
            if khi[i, j] == 0:  # no brain in this row: u = 0 there forever
                continue
            # Whole rows with a constant start: a row-extent start read from an array made
            # numba keep negative-index checks and lose vectorisation (measured 5-10x slower).
            for k in range(1, nz - 1):
                u0 = u[i, j, k]
                f = (
                    cx[i - 1, j, k] * (u[i - 1, j, k] - u0)
                    + cx[i, j, k] * (u[i + 1, j, k] - u0)
                    + cy[i, j - 1, k] * (u[i, j - 1, k] - u0)
                    + cy[i, j, k] * (u[i, j + 1, k] - u0)
                    + cz[i, j, k - 1] * (u[i, j, k - 1] - u0)
                    + cz[i, j, k] * (u[i, j, k + 1] - u0)
                )
                v = u0 + dt * f
                out[i, j, k] = e * v / (1.0 + c * v)


def _two_steps(a, b, cx, cy, cz, klo, khi, dt, e, c, nchunks):
    """Two fused steps in one pass over memory (temporal blocking): b = step(step(a)).

    Slabs of the first step go to a per-thread ring of 3 x-slabs that stays in cache; the
    second step reads the ring and writes b. Traffic per two updates: read a, cx, cy, cz and
    write b once (20 bytes), half that of two single steps. Each thread recomputes one
    first-step slab at either end of its x-range instead of sharing it (no races).
    """
    nx, ny, nz = a.shape
    for t in prange(nchunks):
        i0 = 1 + (nx - 2) * t // nchunks
        i1 = 1 + (nx - 2) * (t + 1) // nchunks
        ring = np.zeros((3, ny, nz), np.float32)
        for s in range(i0 - 1, i1 + 1):
            r = s % 3
            if s <= 0 or s >= nx - 1:  # halo slab: u = 0
                ring[r, :, :] = 0.0
            else:
                for j in range(1, ny - 1):
                    if khi[s, j] == 0:  # no brain: clear what slab s - 3 left in the slot
                        for k in range(nz):
                            ring[r, j, k] = 0.0
                        continue
                    for k in range(1, nz - 1):
                        u0 = a[s, j, k]
                        f = (
                            cx[s - 1, j, k] * (a[s - 1, j, k] - u0)
                            + cx[s, j, k] * (a[s + 1, j, k] - u0)
                            + cy[s, j - 1, k] * (a[s, j - 1, k] - u0)
                            + cy[s, j, k] * (a[s, j + 1, k] - u0)
                            + cz[s, j, k - 1] * (a[s, j, k - 1] - u0)
                            + cz[s, j, k] * (a[s, j, k + 1] - u0)
                        )
                        v = u0 + dt * f
                        ring[r, j, k] = e * v / (1.0 + c * v)
            i = s - 1  # second step of slab i once slabs i-1, i, i+1 of step one exist
            if i0 <= i < i1:
                rm, r0, rp = (i - 1) % 3, i % 3, s % 3
                for j in range(1, ny - 1):
                    if khi[i, j] == 0:
                        continue
                    for k in range(1, nz - 1):
                        u0 = ring[r0, j, k]
                        f = (
                            cx[i - 1, j, k] * (ring[rm, j, k] - u0)
                            + cx[i, j, k] * (ring[rp, j, k] - u0)
                            + cy[i, j - 1, k] * (ring[r0, j - 1, k] - u0)
                            + cy[i, j, k] * (ring[r0, j + 1, k] - u0)
                            + cz[i, j, k - 1] * (ring[r0, j, k - 1] - u0)
                            + cz[i, j, k] * (ring[r0, j, k + 1] - u0)
                        )
                        v = u0 + dt * f
                        b[i, j, k] = e * v / (1.0 + c * v)


def _renamed(fn: Any, name: str) -> Any:
    """A copy of ``fn`` under another name: numba's on-disk cache is keyed by qualified name
    and line, so the serial and parallel builds of one source must not share it."""
    g = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    return g


step_parallel: Any = njit(parallel=True, fastmath=True, cache=True)(_renamed(_step, "_step_par"))
step_serial: Any = njit(fastmath=True, cache=True)(_renamed(_step, "_step_ser"))
two_parallel: Any = njit(parallel=True, fastmath=True, cache=True)(_renamed(_two_steps, "_two_par"))
two_serial: Any = njit(fastmath=True, cache=True)(_renamed(_two_steps, "_two_ser"))


@njit(fastmath=True, cache=True)
def run_parallel(a, b, cx, cy, cz, klo, khi, n_steps, dt, e, c, nchunks):
    """``n_steps`` steps ping-ponging a <-> b (halos stay 0), two per memory pass;
    returns 1 if the result is in b. ``nchunks``: x-ranges run in parallel (= threads)."""
    for s in range(n_steps // 2):
        if s % 2 == 0:
            two_parallel(a, b, cx, cy, cz, klo, khi, dt, e, c, nchunks)
        else:
            two_parallel(b, a, cx, cy, cz, klo, khi, dt, e, c, nchunks)
    odd = (n_steps // 2) % 2
    if n_steps % 2:
        if odd:
            step_parallel(b, cx, cy, cz, klo, khi, a, dt, e, c)
        else:
            step_parallel(a, cx, cy, cz, klo, khi, b, dt, e, c)
        odd = 1 - odd
    return odd


@njit(fastmath=True, cache=True)
def run_serial(a, b, cx, cy, cz, klo, khi, n_steps, dt, e, c):
    for s in range(n_steps // 2):
        if s % 2 == 0:
            two_serial(a, b, cx, cy, cz, klo, khi, dt, e, c, 1)
        else:
            two_serial(b, a, cx, cy, cz, klo, khi, dt, e, c, 1)
    odd = (n_steps // 2) % 2
    if n_steps % 2:
        if odd:
            step_serial(b, cx, cy, cz, klo, khi, a, dt, e, c)
        else:
            step_serial(a, cx, cy, cz, klo, khi, b, dt, e, c)
        odd = 1 - odd
    return odd


@njit(parallel=True, fastmath=True, cache=True)
def triad(a, b, c, scalar):
    """STREAM triad a = b + s·c (McCalpin 1995): 12 bytes per float32 element, no reuse."""
    for i in prange(a.size):
        a[i] = b[i] + scalar * c[i]


def warm_up() -> None:
    """Compile (or load from cache) every kernel for float32 arrays."""
    z = np.zeros((4, 4, 4), np.float32)
    lo, hi = np.ones((4, 4), np.int32), np.full((4, 4), 3, np.int32)
    f = np.float32(0)
    for n in (1, 2):
        run_parallel(z, z.copy(), z, z, z, lo, hi, n, f, f, f, 2)
        run_serial(z, z.copy(), z, z, z, lo, hi, n, f, f, f)
    triad(z.ravel(), z.ravel(), z.ravel(), f)
