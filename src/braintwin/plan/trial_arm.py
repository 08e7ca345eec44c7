"""A per-patient optimised arm for in-silico trials (``braintwin bench trial``).

Each SYNTHETIC virtual patient is treated as a twin would treat a real one: its plan is
optimised (``plan.optimise``) under a posterior, not under its true parameters. The posterior
stands in for what calibration would give (stated, not fitted): log D_w and log ρ normal
around the truth with standard deviation ``spread`` (0.3, about the width of the posteriors of
`braintwin bench calibrate` on two synthetic visits), and α from the literature prior
(0.02-0.04 /Gy: radiosensitivity cannot be calibrated before radiotherapy). The search uses the
spherically symmetric form of the model (``growth.radial``), exact for the virtual patient's
spherical residual tumour in a homogeneous brain apart from the distance to the brain's wall;
the trial engine then treats the patient with the chosen plan in 3D.

The factory is a module-level function so that ``functools.partial(optimised_plan, …)``
pickles to Dask workers (``cohort.spec.ArmSpec``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import numpy as np

from braintwin.calibrate.trial import VirtualPatient
from braintwin.growth.parameters import PRIORS, RANGES
from braintwin.plan.optimise import RadialEvaluator, optimise_plan
from braintwin.plan.regimens import library
from braintwin.types.records import TreatmentPlan

__all__ = ["POSTERIOR_SPREAD", "optimised_plan", "patient_posterior"]

POSTERIOR_SPREAD = 0.3


def _seed(patient: VirtualPatient) -> int:
    key = repr((patient.params.D_w, patient.params.rho, patient.tc_ml, patient.centre_mm))
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def patient_posterior(
    patient: VirtualPatient, n: int, spread: float = POSTERIOR_SPREAD
) -> list:  # list[GrowthParameters]
    """``n`` stand-in posterior samples for ``patient`` (module doc), seeded by the patient."""
    rng = np.random.default_rng(_seed(patient))
    a_lo, a_hi, _ = PRIORS["alpha"]
    p = patient.params

    def draw(name: str, value: float) -> float:
        lo, hi, _ = RANGES[name]  # the model's accepted range
        return float(np.clip(value * math.exp(rng.normal(0.0, spread)), lo, hi))

    return [
        p.replace(
            D_w=draw("D_w", p.D_w), rho=draw("rho", p.rho), alpha=float(rng.uniform(a_lo, a_hi))
        )
        for _ in range(n)
    ]


def optimised_plan(
    patient: VirtualPatient,
    start: dt.date,
    *,
    objective: str = "ttp",
    risk: str = "cvar",
    reference: str = "stupp",
    samples: int = 12,
    maxiter: int = 6,
    popsize: int = 6,
    horizon_days: float = 730.0,
) -> TreatmentPlan:
    """The plan optimised for ``patient`` (plan factory of an in-silico trial arm)."""
    r_tc = (3.0 * patient.tc_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
    evaluator = RadialEvaluator(
        patient_posterior(patient, samples),
        tc_radius_mm=r_tc,
        wt_radius_mm=None,
        last_visit=start,
        start=start,
        horizon_days=horizon_days,
    )
    result = optimise_plan(
        evaluator,
        library()[reference],
        objective=objective,
        risk=risk,
        maxiter=maxiter,
        popsize=popsize,
        seed=_seed(patient) % (2**31),
    )
    return result.best.to_plan(start)
