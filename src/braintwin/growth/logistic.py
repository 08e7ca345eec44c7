"""Logistic growth: the exact reaction step and the reduced volume ODE.

The reaction part of the PDE, ``du/dt = rho u (1 - u) - k u`` (proliferation minus a
chemotherapy kill rate k), is a Bernoulli equation with a closed-form solution

    u(t) = E u0 / (1 + c u0),  E = exp(a t),  c = rho (E - 1) / a,  a = rho - k,

(c -> rho t as a -> 0), so the solvers apply it exactly in every time step (operator splitting)
and it cannot go unstable or leave [0, 1]. The same solution drives the logistic tumour-volume
ODE dV/dt = rho V (1 - V/K) with LQ kills at each fraction, the reduced model of the
radiotherapy digital twin of Chaudhuri et al. 2023 (Front Artif Intell 6:1222612).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from braintwin.errors import ModelError
from braintwin.growth.parameters import GrowthParameters
from braintwin.growth.treatment import chemo_kill_rate, lq_survival
from braintwin.types.records import TreatmentPlan

__all__ = [
    "VolumeCurve",
    "logistic_closed_form",
    "logistic_volume",
    "reaction_coefficients",
]


def reaction_coefficients(rho: float, kill: float, dt_days: float) -> tuple[float, float]:
    """(E, c) such that one exact reaction step of ``dt_days`` is ``u <- E u / (1 + c u)``.

    ``rho`` is proliferation (1/day), ``kill`` a chemotherapy kill rate (1/day).
    """
    a = rho - kill
    x = a * dt_days
    e = math.exp(x)
    # expm1(x)/x -> 1 as x -> 0 keeps c = rho*dt*expm1(x)/x accurate for tiny net growth.
    ratio = math.expm1(x) / x if abs(x) > 1e-12 else 1.0 + 0.5 * x
    return e, rho * dt_days * ratio


def logistic_closed_form(
    v0: float | np.ndarray, rho: float, capacity: float, t_days: float | np.ndarray
) -> np.ndarray:
    """Closed-form logistic growth V(t) = K V0 e^{rho t} / (K + V0 (e^{rho t} - 1))."""
    if capacity <= 0:
        raise ModelError("logistic carrying capacity must be > 0")
    g = np.exp(rho * np.asarray(t_days, dtype=float))
    v = np.asarray(v0, dtype=float)
    return capacity * v * g / (capacity + v * (g - 1.0))


@dataclass(frozen=True)
class VolumeCurve:
    """Tumour volume over time: ``times`` (days, shape (T,)), ``volumes_ml`` (mL, shape (T,))."""

    times: np.ndarray
    volumes_ml: np.ndarray


def logistic_volume(
    v0_ml: float,
    params: GrowthParameters,
    plan: TreatmentPlan | None,
    t_days: Sequence[float],
    *,
    capacity_ml: float = 150.0,
    start_date: dt.date | None = None,
) -> VolumeCurve:
    """Integrate the logistic volume ODE with LQ kills and chemotherapy, exactly between events.

    Args:
        v0_ml: tumour volume at t = 0 (mL).
        params: uses ``rho``, ``alpha``, ``alpha_beta``, ``chemo_sensitivity``.
        plan: treatment plan (fractions kill the whole tumour uniformly); None = untreated.
        t_days: output times (days after t = 0, ascending, >= 0).
        capacity_ml: carrying capacity K (mL); ~150 mL, a large hemispheric tumour.
        start_date: calendar date of t = 0 (default: the plan start).
    """
    times = np.asarray(t_days, dtype=float)
    if times.ndim != 1 or times.size == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ModelError("t_days must be a non-empty ascending list of days >= 0")
    if not 0 < v0_ml <= capacity_ml:
        raise ModelError(f"initial volume {v0_ml} mL must be in (0, {capacity_ml}] mL")
    offset = 0.0 if plan is None or start_date is None else plan.day_of(start_date)
    fractions: list[tuple[float, float]] = []
    chemo_edges: list[float] = []
    if plan is not None:
        if plan.radiotherapy is not None:
            fractions = [(f.day - offset, f.dose_gy) for f in plan.radiotherapy.fractions]
        for c in plan.chemotherapy:
            chemo_edges += [c.start_day - offset, c.end_day - offset]
    events = sorted({t for t in chemo_edges if 0 < t < times[-1]} | {t for t, _ in fractions})
    out = np.empty_like(times)
    v, t = v0_ml / capacity_ml, 0.0
    fi, oi = 0, 0
    fractions.sort()
    for stop in [*events, math.inf]:
        while oi < times.size and times[oi] <= stop:
            v = _advance(v, t, times[oi], params, plan, offset)
            t = times[oi]
            out[oi] = v * capacity_ml
            oi += 1
        if oi == times.size:
            break
        v = _advance(v, t, stop, params, plan, offset)
        t = stop
        while fi < len(fractions) and fractions[fi][0] <= t:
            if fractions[fi][0] >= 0:
                v *= float(lq_survival(fractions[fi][1], params.alpha, params.beta))
            fi += 1
    return VolumeCurve(times=times, volumes_ml=out)


def _advance(
    v: float, t0: float, t1: float, params: GrowthParameters, plan: TreatmentPlan | None, off: float
) -> float:
    if t1 <= t0:
        return v
    kill = 0.0
    if plan is not None:
        kill = params.chemo_sensitivity * chemo_kill_rate(plan.chemotherapy, 0.5 * (t0 + t1) + off)
    e, c = reaction_coefficients(params.rho, kill, t1 - t0)
    return e * v / (1.0 + c * v)
