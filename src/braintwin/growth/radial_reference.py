"""Readable numpy reference of the radial model's step, observation and event loop
(``growth.radial``); the numba kernels (``growth._radial_kernels``) are tested against it."""

from __future__ import annotations

import numpy as np

__all__ = ["reference_step", "run_numpy", "shell_integral"]


def reference_step(
    u: np.ndarray, c_out: np.ndarray, c_in: np.ndarray, e: float, c: float
) -> np.ndarray:
    """One step, readable numpy form: explicit shell diffusion, then u <- E v / (1 + c v)."""
    padded = np.concatenate([u[:1], u, u[-1:]])  # mirrored ends: no flux (c_in[0] = 0 anyway)
    v = u + c_out * (padded[2:] - u) - c_in * (u - padded[:-2])
    return e * v / (1.0 + c * v)


def shell_integral(w: np.ndarray, r: np.ndarray, r_max: float, lo: float, hi: float) -> float:
    """∫ clip((w - lo)/(hi - lo), 0, 1) dV (step w >= lo if hi <= lo), numpy form by dense
    sampling of the piecewise-linear w (for tests of the kernel's exact integral)."""
    x = np.linspace(0.0, r_max, 200 * r.size + 1)
    xm = 0.5 * (x[1:] + x[:-1])
    wm = np.interp(xm, r, w)
    f = (wm >= lo).astype(float) if hi <= lo else np.clip((wm - lo) / (hi - lo), 0.0, 1.0)
    return float(np.sum(f * 4.0 / 3.0 * np.pi * (x[1:] ** 3 - x[:-1] ** 3)))


def run_numpy(
    u: np.ndarray,
    n: np.ndarray,
    c_out: np.ndarray,
    c_in: np.ndarray,
    vol: np.ndarray,
    r: np.ndarray,
    r_max: float,
    seg_steps: np.ndarray,
    seg_dt: np.ndarray,
    seg_e: np.ndarray,
    seg_c: np.ndarray,
    seg_decay: np.ndarray,
    seg_gain: np.ndarray,
    seg_pad: np.ndarray,
    seg_out: np.ndarray,
    frac_break: np.ndarray,
    frac_gy: np.ndarray,
    dose_rel: np.ndarray,
    need_target: bool,
    margin: float,
    alpha: float,
    beta: float,
    th: np.ndarray,
    out: np.ndarray,
) -> int:
    """The numpy reference of ``_radial_kernels.run`` (same arguments; the same result up to
    the kernel's freezing of shells beyond the tumour's reach, ``seg_pad``, ignored here)."""
    taken = 0
    fi = 0
    for b in range(seg_steps.size):
        for _ in range(int(seg_steps[b])):
            new = reference_step(u, seg_dt[b] * c_out, seg_dt[b] * c_in, seg_e[b], seg_c[b])
            n[:] = n * seg_decay[b] + seg_gain[b] * (u + new)  # doomed: clearance + chemo kill
            u[:] = new
        taken += int(seg_steps[b])
        w = np.minimum(u + n, 1.0)
        if seg_out[b] >= 0:
            out[:, seg_out[b]] = [
                float(np.sum(u * vol)),
                shell_integral(w, r, r_max, th[1], th[1]),
                shell_integral(w, r, r_max, th[0], th[0]),
                shell_integral(w, r, r_max, th[2], th[3]),
                float(np.sum(n * vol)),
            ]
        while fi < frac_break.size and frac_break[fi] == b:
            if need_target:
                seen = np.nonzero(w >= th[0])[0]
                if seen.size == 0:
                    return -1
                k = int(seen[-1])
                edge = (
                    r_max
                    if k == r.size - 1
                    else r[k] + (w[k] - th[0]) / (w[k] - w[k + 1]) * (r[k + 1] - r[k])
                )
                dose_rel[:] = r <= edge + margin
                need_target = False
            d = dose_rel * frac_gy[fi]
            s = np.exp(-alpha * d - beta * d * d)
            n += u * (1.0 - s)
            u *= s
            w = np.minimum(u + n, 1.0)
            fi += 1
    return taken
