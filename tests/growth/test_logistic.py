"""Logistic ODE: exact reaction step and the volume model against independent solutions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from braintwin.growth import (
    GrowthParameters,
    logistic_closed_form,
    logistic_volume,
    reaction_coefficients,
    standard_stupp,
)


@pytest.mark.parametrize(("rho", "kill"), [(0.05, 0.0), (0.05, 0.02), (0.05, 0.05), (0.02, 0.1)])
def test_reaction_step_solves_the_ode(rho: float, kill: float) -> None:
    sol = solve_ivp(
        lambda _t, u: rho * u * (1 - u) - kill * u, (0, 30), [0.2], rtol=1e-11, atol=1e-13
    )
    e, c = reaction_coefficients(rho, kill, 30.0)
    assert e * 0.2 / (1 + c * 0.2) == pytest.approx(sol.y[0, -1], rel=1e-7)


def test_closed_form_matches_numerical_logistic() -> None:
    t = np.linspace(0, 200, 11)
    sol = solve_ivp(
        lambda _t, v: 0.04 * v * (1 - v / 80.0), (0, 200), [2.0], t_eval=t, rtol=1e-11, atol=1e-12
    )
    np.testing.assert_allclose(logistic_closed_form(2.0, 0.04, 80.0, t), sol.y[0], rtol=1e-7)


def test_untreated_volume_is_closed_form() -> None:
    p = GrowthParameters(rho=0.03)
    t = [0.0, 10.0, 100.0, 365.0]
    curve = logistic_volume(5.0, p, None, t, capacity_ml=120.0)
    np.testing.assert_allclose(curve.volumes_ml, logistic_closed_form(5.0, 0.03, 120.0, t))


def test_treated_volume_matches_piecewise_integration() -> None:
    start = dt.date(2024, 1, 1)
    plan = standard_stupp(start)
    p = GrowthParameters(rho=0.03, alpha=0.03, alpha_beta=10.0)
    times = [0.0, 20.5, 60.0]
    curve = logistic_volume(10.0, p, plan, times, capacity_ml=100.0)
    # Independent: integrate the ODE between fractions with solve_ivp, apply S at each.
    rt = plan.radiotherapy
    assert rt is not None
    s = np.exp(-p.alpha * 2.0 - p.beta * 4.0)
    k = plan.chemotherapy[0].kill_rate_per_day
    v, t = 10.0, 0.0
    expected = []
    events = sorted({f.day for f in rt.fractions} | {40.0} | set(times))
    for ev in events:
        sol = (
            solve_ivp(
                lambda tt, y: 0.03 * y * (1 - y / 100.0) - (k if tt < 40 else 0.0) * y,
                (t, ev),
                [v],
                rtol=1e-10,
                atol=1e-12,
                max_step=0.5,
            )
            if ev > t
            else None
        )
        v = float(sol.y[0, -1]) if sol is not None else v
        t = ev
        if ev in times:
            expected.append(v)
        if any(f.day == ev for f in rt.fractions):
            v *= s
    np.testing.assert_allclose(curve.volumes_ml, expected, rtol=1e-6)
