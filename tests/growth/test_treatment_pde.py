"""Treatment inside the PDE: LQ survival after n fractions, dose maps, chemotherapy."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from braintwin.growth import (
    Domain,
    GrowthParameters,
    simulate,
    standard_stupp,
)
from braintwin.types import ChemoCourse, Fraction, Modality, Radiotherapy, TreatmentPlan, Volume

START = dt.date(2024, 3, 4)


def _uniform(u: float, n: int = 8) -> tuple[Domain, Volume]:
    dom = Domain.homogeneous(Volume(np.ones((n, n, n), np.uint8), np.eye(4), Modality.MASK))
    return dom, dom.volume(np.full((n, n, n), u, np.float32))


def _logistic(u: float, rho: float, t: float) -> float:
    g = np.exp(rho * t)
    return u * g / (1 + u * (g - 1))


@pytest.mark.parametrize("solver", ["reference", "numba"])
def test_n_fractions_give_s_to_the_n(solver: str) -> None:
    n_fx, dose = 7, 2.5
    plan = TreatmentPlan(
        name="test",
        start=START,
        radiotherapy=Radiotherapy(
            fractions=tuple(Fraction(day=1.0, dose_gy=dose) for _ in range(n_fx))
        ),
    )
    p = GrowthParameters(rho=0.001, alpha=0.04, alpha_beta=8.0)
    dom, u0 = _uniform(0.5)
    tr = simulate(u0, dom, p, plan, [1.0, 2.0], dose=np.ones(dom.shape), solver=solver)
    s = np.exp(-p.alpha * dose - p.beta * dose**2)
    before = _logistic(0.5, p.rho, 1.0)
    assert tr.viable[0].mean() == pytest.approx(before, rel=1e-6)  # type: ignore[union-attr]
    expected = _logistic(before * s**n_fx, p.rho, 1.0)
    np.testing.assert_allclose(tr.viable[1], expected, rtol=1e-5)  # type: ignore[arg-type]
    # The killed cells stay visible, cleared at clearance_ratio * rho per day for one day.
    doomed = before * (1 - s**n_fx) * np.exp(-p.clearance_per_day * 1.0)
    np.testing.assert_allclose(tr.fields[1], expected + doomed, rtol=1e-5)


def test_dose_map_scales_the_kill_locally() -> None:
    dom, u0 = _uniform(0.5)
    plan = TreatmentPlan(
        name="t",
        start=START,
        radiotherapy=Radiotherapy(fractions=(Fraction(day=0.0, dose_gy=2.0),)),
    )
    dose = np.zeros(dom.shape, np.float32)
    dose[:4] = 1.0
    p = GrowthParameters(D_w=0.001, rho=0.0005, alpha=0.1)
    tr = simulate(u0, dom, p, plan, [0.0, 0.01], dose=dose)
    u = tr.viable[1]
    assert u is not None
    assert u[0, 4, 4] == pytest.approx(0.5 * np.exp(-0.2 - 0.04), rel=1e-3)
    assert u[7, 4, 4] == pytest.approx(0.5, rel=1e-3)
    assert tr.fields[1][0, 4, 4] == pytest.approx(0.5, rel=1e-3)  # type: ignore[index]


def test_chemo_kill_rate_and_default_target() -> None:
    dom, u0 = _uniform(0.3)
    course = ChemoCourse(start_day=0.0, end_day=10.0, kill_rate_per_day=0.05)
    plan = TreatmentPlan(name="tmz", start=START, chemotherapy=(course,))
    p = GrowthParameters(rho=0.02, chemo_sensitivity=2.0)
    tr = simulate(u0, dom, p, plan, [10.0])
    # u' = rho u (1-u) - 2·0.05 u: exact solution with a = rho - k.
    a, k = 0.02 - 0.1, 0.1
    e = np.exp(a * 10)
    expected = 0.3 * e / (1 + 0.02 * (e - 1) / a * 0.3)
    assert k > 0 and tr.viable[0].mean() == pytest.approx(expected, rel=1e-5)  # type: ignore[union-attr]
    # Cells killed by the drug are doomed, not gone: visible = viable + not yet cleared.
    assert tr.fields[0].mean() > tr.viable[0].mean() + 0.05  # type: ignore[union-attr]


def test_doomed_cells_are_cleared_at_clearance_rate() -> None:
    dom, u0 = _uniform(0.8)
    plan = TreatmentPlan(
        name="t",
        start=START,
        radiotherapy=Radiotherapy(fractions=(Fraction(day=0.0, dose_gy=8.0),)),
    )
    p = GrowthParameters(D_w=0.001, rho=0.0005, alpha=0.1, clearance_ratio=20.0)
    tr = simulate(u0, dom, p, plan, [0.0, 50.0], dose=np.ones(dom.shape))
    s = np.exp(-p.alpha * 8 - p.beta * 64)
    lam = p.clearance_per_day
    viable = tr.viable[1].mean()  # type: ignore[union-attr]
    assert viable == pytest.approx(_logistic(0.8 * s, p.rho, 50.0), rel=1e-4)
    doomed = 0.8 * (1 - s) * np.exp(-lam * 50)
    assert tr.fields[1].mean() == pytest.approx(viable + doomed, rel=1e-4)  # type: ignore[union-attr]


def test_stupp_shrinks_a_tumour_and_plan_before_start_is_ignored() -> None:
    n = 30
    dom = Domain.homogeneous(Volume(np.ones((n, n, n), np.uint8), np.eye(4), Modality.MASK))
    idx = np.indices((n, n, n)) - 15
    u = np.where((idx**2).sum(axis=0) <= 16, 0.9, 0.0).astype(np.float32)
    p = GrowthParameters(D_w=0.1, rho=0.02, alpha=0.04)
    plan = standard_stupp(START)
    treated = simulate(dom.volume(u), dom, p, plan, [0.0, 42.0], start_date=START)
    untreated = simulate(dom.volume(u), dom, p, None, [0.0, 42.0])
    assert treated.cells_mm3[-1] < 0.2 * untreated.cells_mm3[-1]
    # Starting after the course (and its adjuvant cycles) ended: nothing applies.
    late = simulate(
        dom.volume(u), dom, p, plan, [0.0, 42.0], start_date=START + dt.timedelta(days=250)
    )
    np.testing.assert_allclose(late.cells_mm3, untreated.cells_mm3, rtol=1e-6)
