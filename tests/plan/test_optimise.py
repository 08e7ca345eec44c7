"""The optimiser on SYNTHETIC spherical patients (radial fast form): feasibility, constraints,
determinism, and refusals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from braintwin.calibrate.trial import START, VirtualPatient
from braintwin.errors import InputError
from braintwin.growth.parameters import GrowthParameters
from braintwin.plan.dose import NORMAL_BRAIN_ALPHA_BETA_GY, bed
from braintwin.plan.optimise import Candidate, RadialEvaluator, optimise_plan
from braintwin.plan.regimens import library
from braintwin.plan.trial_arm import optimised_plan, patient_posterior

PATIENT = VirtualPatient(GrowthParameters(D_w=0.05, rho=0.03, alpha=0.03), 10.0, (0.0, 0.0, 0.0))


def _evaluator(n: int = 4) -> RadialEvaluator:
    return RadialEvaluator(
        patient_posterior(PATIENT, n),
        tc_radius_mm=(3 * 10_000 / (4 * np.pi)) ** (1 / 3),
        wt_radius_mm=None,
        last_visit=START,
        start=START,
        horizon_days=365.0,
    )


def test_ttp_objective_keeps_the_dose_and_the_normal_brain_limit() -> None:
    res = optimise_plan(_evaluator(), library()["stupp"], objective="ttp", maxiter=2, popsize=4)
    doses = res.candidate.doses
    assert sum(doses) == pytest.approx(60.0)
    assert bed(doses, NORMAL_BRAIN_ALPHA_BETA_GY) <= 120.0 + 1e-6
    assert all(1.5 - 1e-9 <= d <= 5.0 + 1e-9 for d in doses) and len(doses) <= 40
    # Started from the reference: never worse than it on the search samples.
    assert res.search["best"]["cvar10_ttp_days"] >= res.search["reference"]["cvar10_ttp_days"]
    plan = res.best.to_plan(START)
    assert [f.dose_gy for f in plan.radiotherapy.fractions] == pytest.approx(doses, abs=1e-4)


def test_dose_objective_never_loses_control() -> None:
    res = optimise_plan(_evaluator(), library()["stupp"], objective="dose", maxiter=2, popsize=4)
    s = res.search
    assert s["best"]["total_dose_gy"] <= 60.0 + 1e-9
    assert s["best"]["p_control_12m"] >= s["reference"]["p_control_12m"]
    assert s["best"]["cvar10_ttp_days"] >= s["reference"]["cvar10_ttp_days"]
    assert s["best"]["tc_ml_at_horizon_median"] <= s["reference"]["tc_ml_at_horizon_median"] * 1.5


def test_candidate_spec_is_a_valid_plan() -> None:
    c = Candidate(n1=10, d1=3.0, n2=15, d2=2.0, concomitant=False, adjuvant_break_days=14.0)
    spec = c.spec("x", library()["stupp"])
    plan = spec.to_plan(dt.date(2024, 1, 1))
    assert len(plan.radiotherapy.fractions) == 25 and spec.total_dose_gy == pytest.approx(60.0)
    assert plan.chemotherapy[0].start_day == plan.radiotherapy.fractions[-1].day + 1 + 14


def test_trial_arm_is_deterministic_per_patient() -> None:
    a = optimised_plan(PATIENT, START, samples=3, maxiter=1, popsize=3, horizon_days=200)
    b = optimised_plan(PATIENT, START, samples=3, maxiter=1, popsize=3, horizon_days=200)
    assert a == b


def test_refusals() -> None:
    ev = _evaluator(2)
    with pytest.raises(InputError, match="unknown objective"):
        optimise_plan(ev, library()["stupp"], objective="fastest")
    with pytest.raises(InputError, match="unknown risk"):
        optimise_plan(ev, library()["stupp"], risk="max")
    with pytest.raises(InputError, match="no radiotherapy"):
        optimise_plan(ev, library()["tmz-alone"])
