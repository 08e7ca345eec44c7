"""numba kernels of the spherically symmetric model (``growth.radial``; imported lazily:
importing numba costs ~0.5 s). ``reference_step`` / ``shell_integral`` are the
readable numpy forms (``growth.radial_reference``) the tests hold these against."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["ACTIVE_LEVEL", "piece_integral", "run", "shell_integral"]

ACTIVE_LEVEL = 1e-10  # u + n below this beyond the tumour's reach: shells left frozen


@njit(cache=True)
def _sub(x, y, a, wa, g, lo, hi):
    """∫_x^y f(w(r)) r² dr on a sub-interval where f is 0, 1 or linear in r throughout."""
    if y <= x:
        return 0.0
    wm = wa + g * (0.5 * (x + y) - a)
    if hi <= lo:  # the step w >= lo
        return (y**3 - x**3) / 3.0 if wm >= lo else 0.0
    if wm >= hi:
        return (y**3 - x**3) / 3.0
    if wm <= lo:
        return 0.0
    q = g / (hi - lo)  # f = p + q r
    p = (wa - g * a - lo) / (hi - lo)
    return p * (y**3 - x**3) / 3.0 + q * (y**4 - x**4) / 4.0


@njit(cache=True)
def piece_integral(a, b, wa, wb, lo, hi):
    """∫_a^b f(w(r)) r² dr for w linear from wa (r = a) to wb (r = b), where
    f(w) = clip((w - lo) / (hi - lo), 0, 1) (the step w >= lo when hi <= lo)."""
    if b <= a or (wa < lo and wb < lo):
        return 0.0
    g = (wb - wa) / (b - a)
    x1 = b
    x2 = b
    if (wa - lo) * (wb - lo) < 0.0:
        x1 = a + (lo - wa) / g
    if hi > lo and (wa - hi) * (wb - hi) < 0.0:
        x2 = a + (hi - wa) / g
    if x2 < x1:
        x1, x2 = x2, x1
    return (
        _sub(a, x1, a, wa, g, lo, hi)
        + _sub(x1, x2, a, wa, g, lo, hi)
        + _sub(x2, b, a, wa, g, lo, hi)
    )


@njit(cache=True)
def shell_integral(w, r, r_max, lo, hi):
    """∫ f(w) dV (mm³) over the ball of radius r_max, w piecewise linear between the cell
    centres ``r`` and constant from 0 to r[0] and from r[-1] to r_max."""
    n = w.shape[0]
    total = piece_integral(0.0, r[0], w[0], w[0], lo, hi)
    for i in range(n - 1):
        total += piece_integral(r[i], r[i + 1], w[i], w[i + 1], lo, hi)
    total += piece_integral(r[n - 1], r_max, w[n - 1], w[n - 1], lo, hi)
    return 4.0 * math.pi * total


@njit(cache=True)
def _record(u, n, vol, r, r_max, th, out, k):
    w = np.minimum(u + n, 1.0)
    cells = 0.0
    for i in range(u.shape[0]):
        cells += u[i] * vol[i]
    out[0, k] = cells
    out[1, k] = shell_integral(w, r, r_max, th[1], th[1])
    out[2, k] = shell_integral(w, r, r_max, th[0], th[0])
    out[3, k] = shell_integral(w, r, r_max, th[2], th[3])
    doomed = 0.0
    for i in range(u.shape[0]):
        doomed += n[i] * vol[i]
    out[4, k] = doomed


@njit(cache=True)
def run(
    u, n, c_out, c_in, vol, r, r_max,
    seg_steps, seg_dt, seg_e, seg_c, seg_decay, seg_gain, seg_pad, seg_out,
    frac_break, frac_gy, dose_rel, need_target, margin, alpha, beta, th, out,
):  # fmt: skip
    """Advance (u, n) through the breaks in order; see ``radial_reference.run_numpy`` (same logic).

    Segment b ends at break b: ``seg_steps[b]`` steps of ``seg_dt[b]`` days, each the fused
    diffusion (``c_out``, ``c_in``: per day) + exact reaction (``seg_e``, ``seg_c``), doomed
    cells decayed by ``seg_decay`` and fed with ``seg_gain`` · (u_before + u_after)
    (chemotherapy kill). Only shells up to ``seg_pad[b]`` beyond the last one with
    u + n > ACTIVE_LEVEL are updated (the tumour's reach in the segment; farther shells stay
    frozen below that level, as ``simulate``'s crop box). Then the output slot
    ``seg_out[b]`` (or -1) is recorded and the fractions with ``frac_break == b`` delivered.
    Returns the number of steps taken, or -1 if no tumour is FLAIR-visible at the first
    fraction when the target has to be derived (``need_target``).
    """
    m = u.shape[0]
    new = np.empty_like(u)
    steps = 0
    fi = 0
    for b in range(seg_steps.shape[0]):
        st, e, c = seg_dt[b], seg_e[b], seg_c[b]
        decay, gain = seg_decay[b], seg_gain[b]
        last = m - 1
        while last > 0 and u[last] + n[last] <= ACTIVE_LEVEL:
            last -= 1
        hi = min(m - 1, last + seg_pad[b])
        new[hi + 1 :] = u[hi + 1 :]  # frozen shells: both buffers agree
        for _ in range(seg_steps[b]):
            # Fused: diffusion, exact reaction, doomed-cell update (reads the old u), then swap.
            for i in range(hi + 1):
                left = u[i - 1] if i > 0 else u[i]
                right = u[i + 1] if i < m - 1 else u[i]
                v = u[i] + st * (c_out[i] * (right - u[i]) - c_in[i] * (u[i] - left))
                new[i] = e * v / (1.0 + c * v)
                n[i] = n[i] * decay + gain * (u[i] + new[i])
            u, new = new, u
        steps += seg_steps[b]
        if seg_out[b] >= 0:
            _record(u, n, vol, r, r_max, th, out, seg_out[b])
        while fi < frac_break.shape[0] and frac_break[fi] == b:
            if need_target:
                k = -1
                for i in range(m):
                    if min(u[i] + n[i], 1.0) >= th[0]:
                        k = i
                if k < 0:
                    return -1
                edge = r_max
                if k < m - 1:
                    wk, wn = min(u[k] + n[k], 1.0), min(u[k + 1] + n[k + 1], 1.0)
                    edge = r[k] + (wk - th[0]) / (wk - wn) * (r[k + 1] - r[k])
                for i in range(m):
                    dose_rel[i] = 1.0 if r[i] <= edge + margin else 0.0
                need_target = False
            for i in range(m):
                d = dose_rel[i] * frac_gy[fi]
                s = math.exp(-alpha * d - beta * d * d)
                n[i] += u[i] * (1.0 - s)
                u[i] *= s
            fi += 1
    if steps % 2 == 1:  # the caller's array holds the state after an even number of swaps
        new[:] = u
    return steps
