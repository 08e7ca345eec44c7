"""One Dask task: one virtual patient through every arm of the trial (paired design).

The simulation is ``calibrate.trial.treat_patient``, the engine ``eval population`` uses, so
both report the same outcome for the same patient. The brain is built once per worker process
(``patients.trial_brain`` is cached).
"""

from __future__ import annotations

import time

from braintwin.calibrate.trial import START, assessment_days, treat_patient, weekly_days
from braintwin.cohort.patients import trial_brain
from braintwin.cohort.spec import PatientOutcome, PatientSpec

__all__ = ["run_patient"]


def run_patient(spec: PatientSpec) -> PatientOutcome:
    """Simulate ``spec.patient`` under every arm; day 0 = the first radiotherapy day."""
    t0 = time.perf_counter()
    s = spec.settings
    domain, world = trial_brain(s.brain, s.resolution_mm)
    days = weekly_days(s.horizon_days)
    scans = assessment_days(days, s.schedule)
    plans = [arm.plan(spec.patient, START) for arm in spec.arms]
    outcomes = treat_patient(spec.patient, domain, world, plans, days, scans, solver=s.solver)
    return PatientOutcome(
        spec.index,
        spec.patient,
        {arm.name: o for arm, o in zip(spec.arms, outcomes, strict=True)},
        time.perf_counter() - t0,
    )
