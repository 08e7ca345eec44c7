"""A log-likelihood emulator on adaptively refined tensor grids in log-parameter space.

Why an emulator: emcee needs 10⁴-10⁵ log-posterior evaluations for well-mixed chains, but
one 3D forward run costs 10-500 ms. The log-likelihood over (log D_w, log ρ[, log α]) is
smooth — the boundary-blur noise model (see ``likelihood``) makes it so — so it can be
tabulated on a grid with a few hundred forward runs and interpolated (multilinear), and emcee
then samples the interpolated posterior essentially for free (Wilkinson 2014, "Accelerating ABC
methods using Gaussian processes", uses the same idea with a GP instead of a grid).

Refinement: a coarse grid covers the prior box; each stage zooms into the box where the
log-posterior is within ``window`` nats of its maximum (padded by one cell) and tabulates a new
grid there. Queries use the finest stage whose box contains them. A held-out check at random
posterior points reports the emulation error (``max_abs_error_nats``) in the diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from braintwin.errors import CalibrationError

__all__ = ["GridEmulator", "build_emulator"]

LogLikBatch = Callable[[np.ndarray], np.ndarray]  # (m, k) log-params -> (m,) log-likelihood


@dataclass
class _Stage:
    low: np.ndarray
    high: np.ndarray
    axes: list[np.ndarray]
    values: np.ndarray
    interp: RegularGridInterpolator  # multilinear: robust, used on the coarse stages
    smooth: RegularGridInterpolator  # tensor cubic spline: exact on quadratics, finest stage


@dataclass
class GridEmulator:
    """Multilinear interpolant of the log-likelihood over nested boxes of log-parameters.

    Attributes:
        stages: tabulated grids, coarse to fine.
        n_runs: number of exact log-likelihood evaluations (forward runs) spent.
    """

    stages: list[_Stage] = field(default_factory=list)
    n_runs: int = 0

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """Emulated log-likelihood at log-parameters ``theta`` (m, k) -> (m,)."""
        th = np.atleast_2d(np.asarray(theta, float))
        out = np.full(len(th), -np.inf)
        done = np.zeros(len(th), bool)
        for i, st in enumerate(reversed(self.stages)):  # finest first
            inside = ~done & np.all((th >= st.low) & (th <= st.high), axis=1)
            if inside.any():
                if i == 0:
                    # Cubic where the posterior mass is; capped so spline ringing near a sharp
                    # peak cannot invent a maximum the tabulated runs never showed.
                    v = np.minimum(st.smooth(th[inside]), st.values.max() + 0.5)
                else:
                    v = st.interp(th[inside])
                out[inside] = v
                done |= inside
        return out

    @property
    def low(self) -> np.ndarray:
        return self.stages[0].low

    @property
    def high(self) -> np.ndarray:
        return self.stages[0].high


def _tabulate(low: np.ndarray, high: np.ndarray, n: list[int], f: LogLikBatch) -> _Stage:
    axes = [np.linspace(a, b, m) for a, b, m in zip(low, high, n, strict=True)]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    vals = np.asarray(f(mesh), float)
    if vals.shape != (len(mesh),) or np.any(np.isnan(vals)):
        raise CalibrationError("the forward model returned an invalid log-likelihood")
    # -inf (impossible) points would poison linear interpolation: floor them well below the max.
    finite = np.isfinite(vals)
    if not finite.any():
        raise CalibrationError(
            "no parameter value on the grid explains the data",
            "check that the visits belong to one patient and are registered",
        )
    floor = vals[finite].max() - 1e4
    vals = np.where(finite, np.maximum(vals, floor), floor).reshape([len(a) for a in axes])
    interp = RegularGridInterpolator(
        axes, vals, method="linear", bounds_error=False, fill_value=None
    )
    smooth = RegularGridInterpolator(
        axes, vals, method="cubic", bounds_error=False, fill_value=None
    )
    return _Stage(np.asarray(low, float), np.asarray(high, float), axes, vals, interp, smooth)


def build_emulator(
    f: LogLikBatch,
    low: np.ndarray,
    high: np.ndarray,
    log_prior: Callable[[np.ndarray], np.ndarray],
    *,
    points: list[int] | None = None,
    stages: int = 3,
    window: float = 12.0,
    min_width: np.ndarray | float = 0.02,
) -> GridEmulator:
    """Tabulate ``f`` on a grid over [low, high], then refine ``stages - 1`` times.

    Args:
        f: exact log-likelihood of a batch of log-parameter rows (m, k) -> (m,).
        low, high: (k,) box in log-parameter space (the prior's support).
        log_prior: log prior density of rows (m, k) -> (m,), used to locate the posterior mass.
        points: grid points per axis per stage (default 7 per axis).
        stages: maximum number of grids (1 = no refinement).
        window: refine into the region within ``window`` nats of the maximum log-posterior.
        min_width: smallest box width per axis (log units), so a very sharp posterior still gets
            a non-degenerate grid.
    """
    lo, hi = np.asarray(low, float), np.asarray(high, float)
    k = len(lo)
    n = points or [7] * k
    emu = GridEmulator()
    for s in range(stages):
        st = _tabulate(lo, hi, n, f)
        emu.stages.append(st)
        emu.n_runs += int(np.prod(n))
        if s == stages - 1:
            break
        mesh = np.stack(np.meshgrid(*st.axes, indexing="ij"), axis=-1).reshape(-1, k)
        post = st.values.ravel() + log_prior(mesh)
        good = mesh[post >= np.max(post) - window]
        step = np.array([a[1] - a[0] for a in st.axes])
        if np.all(good.max(axis=0) - good.min(axis=0) >= 4 * step - 1e-12):
            break  # the posterior spans >= 4 cells on every axis: resolved well enough
        new_lo = np.maximum(good.min(axis=0) - step, lo)
        new_hi = np.minimum(good.max(axis=0) + step, hi)
        width = np.maximum(new_hi - new_lo, min_width)
        centre = 0.5 * (new_lo + new_hi)
        new_lo = np.maximum(centre - width / 2, emu.low)
        new_hi = np.minimum(centre + width / 2, emu.high)
        if np.all(new_hi - new_lo >= 0.9 * (hi - lo)):
            break  # the posterior fills the box: refining would not help
        lo, hi = new_lo, new_hi
    return emu
