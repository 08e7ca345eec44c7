"""Known answers for the spherically symmetric fast model (``growth.radial``), its numba
kernel against the numpy reference, and its agreement with the 3D ``simulate``."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from braintwin.errors import ModelError
from braintwin.growth import GrowthParameters, logistic_closed_form, standard_stupp
from braintwin.growth.radial import (
    RadialTrajectory,
    evolve_radial,
    radial_grid,
    simulate_radial,
)
from braintwin.growth.radial_reference import reference_step, shell_integral
from braintwin.growth.treatment import radiotherapy_alone
from braintwin.types.records import ChemoCourse, Fraction, Radiotherapy, TreatmentPlan

START = dt.date(2005, 1, 3)
FIELDS = ("cells_mm3", "doomed_mm3", "enhancing_mm3", "flair_mm3", "enhancing_expected_mm3")


def _close(a: RadialTrajectory, b: RadialTrajectory, rel: float = 1e-12) -> None:
    for f in FIELDS:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=rel, atol=1e-9, err_msg=f)


def test_kernel_matches_numpy_reference() -> None:
    p = GrowthParameters(D_w=0.2, rho=0.03)
    days = np.arange(0.0, 120.0, 7.0)
    kw = {"tc_radius_mm": 15.0, "wt_radius_mm": 20.0, "start_date": START}
    fast = simulate_radial(p, standard_stupp(START), days, **kw)
    ref = simulate_radial(p, standard_stupp(START), days, solver="numpy", **kw)
    for f in ("cells_mm3", "doomed_mm3"):  # the kernel freezes shells below 1e-10: ~1e-11
        np.testing.assert_allclose(getattr(fast, f), getattr(ref, f), rtol=1e-9)
    # The reference integrates the visible volumes by dense sampling (1/200 of a shell).
    np.testing.assert_allclose(fast.enhancing_expected_mm3, ref.enhancing_expected_mm3, rtol=1e-5)
    np.testing.assert_allclose(fast.flair_mm3, ref.flair_mm3, rtol=2e-3)
    np.testing.assert_allclose(fast.enhancing_mm3, ref.enhancing_mm3, rtol=2e-3)
    assert fast.doomed_mm3[0] == 0 and fast.doomed_mm3[-1] > 0
    assert fast.steps == ref.steps > 0


def test_shell_integral_exact_for_a_linear_profile() -> None:
    from braintwin.growth._radial_kernels import shell_integral as exact

    L, r_max = 40.0, 50.0
    r, _ = radial_grid(r_max, 0.7)
    w = np.clip(1.0 - r / L, 0.0, 1.0)  # linear in r inside [r0, L]: no interpolation error
    w[0] = 1.0 - r[0] / L  # (the first half shell is taken as constant: keep it above 0.7)
    for th in (0.7, 0.25):
        want = 4.0 / 3.0 * math.pi * (L * (1.0 - th)) ** 3
        assert exact(w, r, r_max, th, th) == pytest.approx(want, rel=1e-12)
    lo, hi = 0.6, 0.8  # ∫ clip((1 - r/L - lo)/(hi - lo), 0, 1) 4π r² dr, closed form
    a, b = L * (1 - hi), L * (1 - lo)
    ramp = ((1 - lo) * (b**3 - a**3) / 3 - (b**4 - a**4) / (4 * L)) / (hi - lo)
    want = 4 * math.pi * (a**3 / 3 + ramp)
    assert exact(w, r, r_max, lo, hi) == pytest.approx(want, rel=1e-12)
    assert shell_integral(w, r, r_max, lo, hi) == pytest.approx(want, rel=1e-5)


def test_logistic_limit_with_chemotherapy() -> None:
    """Uniform u, negligible diffusion: the logistic ODE with kill, and n from its ODE."""
    p = GrowthParameters(D_w=0.001, rho=0.05, clearance_ratio=0.5)
    k = 0.02
    plan = TreatmentPlan(
        name="tmz",
        start=START,
        chemotherapy=(ChemoCourse(start_day=10, end_day=40, kill_rate_per_day=k),),
    )
    r_max, u0 = 30.0, 0.01
    days = np.arange(0.0, 80.0, 5.0)
    tr = evolve_radial(np.full(60, u0), p, plan, days, r_max_mm=r_max)
    ball = 4.0 / 3.0 * math.pi * r_max**3
    lam = p.clearance_per_day

    def rhs(t: float, y: np.ndarray) -> list[float]:
        kill = k if 10 <= t < 40 else 0.0
        return [p.rho * y[0] * (1 - y[0]) - kill * y[0], kill * y[0] - lam * y[1]]

    sol = solve_ivp(
        rhs, (0, days[-1]), [u0, 0.0], t_eval=days, rtol=1e-11, atol=1e-14, max_step=0.1
    )
    np.testing.assert_allclose(tr.cells_mm3 / ball, sol.y[0], rtol=1e-9)
    np.testing.assert_allclose(tr.doomed_mm3 / ball, sol.y[1], rtol=1e-4, atol=1e-9)
    # Before the course: the closed-form logistic.
    pre = days <= 10
    want = logistic_closed_form(u0, p.rho, 1.0, days[pre])
    np.testing.assert_allclose(tr.cells_mm3[pre] / ball, want, rtol=1e-12)


def test_diffusion_conserves_cells() -> None:
    """No reaction (E = 1, c = 0): shell diffusion with a no-flux wall conserves mass."""
    from braintwin.growth import _radial_kernels as k
    from braintwin.growth.radial import _coefficients

    r, vol = radial_grid(40.0, 0.5)
    u0 = np.exp(-(((r - 10.0) / 3.0) ** 2))
    c_out, c_in = _coefficients(r.size, 1.0, 0.5, 1.0)
    dt_days = 0.95 * 0.25 / 3.0
    u = u0.copy()
    for _ in range(2000):
        u = reference_step(u, dt_days * c_out, dt_days * c_in, 1.0, 0.0)
    assert np.sum(u * vol) == pytest.approx(np.sum(u0 * vol), rel=1e-12)
    assert u.max() < 0.5 * u0.max()  # it did spread
    un, n = u0.copy(), np.zeros_like(u0)
    out = np.zeros((5, 1))
    one = np.ones(1)
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    steps = k.run(
        *(un, n, c_out, c_in, vol, r, 40.0, np.array([2000]), dt_days * one, one, 0 * one),
        *(
            one,
            0 * one,
            np.array([10**6]),
            np.array([0]),
            empty_i,
            empty_f,
            np.zeros_like(r),
            False,
            0.0,
        ),
        *(0.03, 0.003, np.array([0.25, 0.7, 0.6, 0.8]), out),
    )
    assert steps == 2000
    assert out[0, 0] == pytest.approx(np.sum(u0 * vol), rel=1e-12)
    assert out[0, 0] == pytest.approx(np.sum(u * vol), rel=1e-12)


def test_travelling_wave_speed() -> None:
    """Front speed -> 2 sqrt(D rho), with the radial Bramson lag (d + 2)/(2 lambda) ln t,
    d = 3 (see test_wave.py), removed."""
    D, rho = 1.0, 0.25
    t1, t2 = 100.0, 200.0
    tr = simulate_radial(
        GrowthParameters(D_w=D, rho=rho),
        None,
        [t1, t2],
        tc_radius_mm=5.0,
        dr_mm=0.5,
        r_max_mm=300.0,
    )
    radius = (3 * tr.flair_mm3 / (4 * math.pi)) ** (1 / 3)
    lag = 5.0 / (2.0 * math.sqrt(rho / D)) * math.log(t2 / t1) / (t2 - t1)
    speed = (radius[1] - radius[0]) / (t2 - t1) + lag
    assert speed == pytest.approx(2 * math.sqrt(D * rho), rel=0.01)


def _one_fraction(gy: float) -> TreatmentPlan:
    rt = Radiotherapy(fractions=(Fraction(day=1.0, dose_gy=gy),), target_margin_mm=10.0)
    return TreatmentPlan(name="one", start=START, radiotherapy=rt)


def test_lq_survival_at_one_fraction() -> None:
    p = GrowthParameters(D_w=0.001, rho=0.0005, alpha=0.03, alpha_beta=10.0)
    gy, r_max = 5.0, 40.0
    s = math.exp(-p.alpha * gy - p.beta * gy * gy)
    days = [1.0, 1.0 + 1e-7]  # the output at a fraction's day is taken before it
    u0 = np.full(80, 0.5)
    tr = evolve_radial(u0, p, _one_fraction(gy), days, r_max_mm=r_max, dose_rel=np.ones_like)
    assert tr.cells_mm3[1] / tr.cells_mm3[0] == pytest.approx(s, rel=1e-9)
    killed = tr.cells_mm3[0] - tr.cells_mm3[1]
    assert tr.doomed_mm3[1] - tr.doomed_mm3[0] == pytest.approx(killed, rel=1e-9)
    assert tr.flair_mm3[1] == pytest.approx(tr.flair_mm3[0], rel=1e-9)  # imaging sees u + n
    # Dose only inside 20 mm: the kill is (1 - S) of the viable cells of the shells there.
    r, vol = radial_grid(r_max, r_max / u0.size)
    tr2 = evolve_radial(
        u0, p, _one_fraction(gy), days, r_max_mm=r_max, dose_rel=lambda x: (x <= 20.0) * 1.0
    )
    u_day1 = tr2.cells_mm3[0] / vol.sum()  # still uniform
    want = (1 - s) * u_day1 * vol[r <= 20.0].sum()
    assert tr2.cells_mm3[0] - tr2.cells_mm3[1] == pytest.approx(want, rel=1e-9)
    assert tr2.doomed_mm3[1] == pytest.approx(want, rel=1e-9)


def test_default_target_is_flair_radius_plus_margin() -> None:
    p = GrowthParameters(D_w=0.1, rho=0.02)
    plan = _one_fraction(10.0)
    kw = {"tc_radius_mm": 12.0, "wt_radius_mm": 18.0, "dr_mm": 0.5}
    pre = simulate_radial(p, plan, [1.0], **kw)
    edge = (3 * pre.flair_mm3[0] / (4 * math.pi)) ** (1 / 3)
    days = [0.0, 1.0, 30.0, 90.0]
    default = simulate_radial(p, plan, days, **kw)
    explicit = simulate_radial(
        p,
        plan,
        days,
        dose_rel=lambda r: (r <= edge + 10.0) * 1.0,
        **kw,
    )
    _close(default, explicit, rel=1e-12)
    wider = simulate_radial(p, plan, days, margin_mm=30.0, **kw)
    assert wider.cells_mm3[-1] < default.cells_mm3[-1]


def test_start_date_skips_delivered_treatment() -> None:
    p = GrowthParameters(D_w=0.1, rho=0.02)
    days = np.arange(0.0, 100.0, 7.0)
    kw = {"tc_radius_mm": 10.0}
    plan = radiotherapy_alone(START)
    after = simulate_radial(p, plan, days, start_date=START + dt.timedelta(60), **kw)
    _close(after, simulate_radial(p, None, days, **kw), rel=1e-12)
    # A week in: the same as the plan with its first week removed and days shifted.
    assert plan.radiotherapy is not None
    rest = tuple(
        Fraction(day=f.day - 7, dose_gy=f.dose_gy)
        for f in plan.radiotherapy.fractions
        if f.day >= 7
    )
    shifted = plan.model_copy(
        update={"radiotherapy": plan.radiotherapy.model_copy(update={"fractions": rest})}
    )
    late = simulate_radial(p, plan, days, start_date=START + dt.timedelta(7), **kw)
    _close(late, simulate_radial(p, shifted, days, **kw), rel=1e-12)


def test_bad_input() -> None:
    p = GrowthParameters()
    with pytest.raises(ModelError, match="radial set-up"):
        simulate_radial(p, None, [0.0], tc_radius_mm=10.0, wt_radius_mm=5.0)
    with pytest.raises(ModelError, match="ascending"):
        simulate_radial(p, None, [5.0, 1.0], tc_radius_mm=10.0)
    with pytest.raises(ModelError, match="dose_rel"):
        simulate_radial(
            p, _one_fraction(2.0), [0.0], tc_radius_mm=10.0, dose_rel=lambda r: -np.ones_like(r)
        )
    with pytest.raises(ModelError, match="no visible tumour"):
        evolve_radial(np.full(50, 0.01), p, _one_fraction(2.0), [0.0, 2.0], r_max_mm=50.0)


@pytest.mark.parametrize(("D", "rho"), [(0.1, 0.02), (0.5, 0.05)])
def test_agrees_with_3d_simulate_on_a_centred_ball(D: float, rho: float) -> None:
    """Stupp for a year, a 15 mm TC ball at the centre of the trial's 1.4 L ball on a 2 mm
    grid: the expected T1ce-visible volume within 12 % (of max(V_3D, 1 mL); measured 5 % and
    10 %: the 3D voxelisation, which halves from 3 to 2 mm) and the RANO-style time to
    progression within two weeks (measured: equal)."""
    from braintwin.calibrate.forecasting import MEASURABLE_ML, RANO_VOLUME_RATIO
    from braintwin.calibrate.forecasting import time_to_progression as ttp
    from braintwin.calibrate.trial import ball_brain
    from braintwin.growth import density_from_segmentation, simulate
    from braintwin.growth.profile import equivalent_radius_mm
    from braintwin.types.volume import Modality

    domain, world = ball_brain(2.0)
    core = (np.sqrt((world**2).sum(axis=0)) <= 15.0) & domain.mask
    seg = domain.volume(core.astype(np.uint8) * 4, Modality.SEG)
    p = GrowthParameters(D_w=D, rho=rho)
    u0 = density_from_segmentation(seg, brain_mask=domain.mask_volume(), params=p)
    days = np.arange(0.0, 365.0 + 1e-9, 7.0)
    plan = standard_stupp(START)
    ref = simulate(u0, domain, p, plan, days.tolist(), start_date=START, keep=[])
    fast = simulate_radial(
        p, plan, days, tc_radius_mm=equivalent_radius_mm(core, domain.spacing), start_date=START
    )
    a, b = ref.enhancing_expected_mm3, fast.enhancing_expected_mm3
    assert np.max(np.abs(b - a) / np.maximum(a, 1000.0)) < 0.12
    t_ref, t_fast = (
        ttp(days, v / 1000, RANO_VOLUME_RATIO, min_increase=MEASURABLE_ML, interpolate=False)
        for v in (a, b)
    )
    assert np.isfinite(t_ref) and abs(t_fast - t_ref) <= 14.0


def test_segment_coefficients_match_reaction_coefficients() -> None:
    from braintwin.growth import reaction_coefficients
    from braintwin.growth.radial import _schedule, _segment_coefficients

    p = GrowthParameters(rho=0.03, chemo_sensitivity=1.5)
    plan = standard_stupp(START)
    sched = _schedule(plan, np.array([0.0, 50.0, 100.0, 200.0]), 0.0)
    steps, step, e, c, _, _ = _segment_coefficients(sched, p, 0.4)
    assert np.all(step <= 0.4 + 1e-12) and np.allclose(steps * step, sched.seg_len)
    for b in np.nonzero(steps)[0]:
        want = reaction_coefficients(p.rho, 1.5 * sched.seg_kill[b], float(step[b]))
        assert (e[b], c[b]) == pytest.approx(want, rel=1e-13)
    assert sched.seg_kill.max() > 0  # the concomitant and adjuvant courses were seen
    # rho = kill: the limit expm1(x)/x -> 1
    sched0 = _schedule(plan, np.array([0.0, 3.0]), 0.0)
    steps0, step0, e0, c0, _, _ = _segment_coefficients(
        sched0, GrowthParameters(rho=0.015, chemo_sensitivity=1.5), 0.5
    )
    b = int(np.nonzero(steps0)[0][0])
    assert e0[b] == pytest.approx(1.0) and c0[b] == pytest.approx(0.015 * step0[b])
