"""Virtual trials on Dask: SYNTHETIC patients, every arm per patient, survival analysis.

``run_trial`` runs one Dask task per patient (``run_patient``) and stores each outcome as it
finishes in a results folder (``ResultsFolder``), resuming where a previous run stopped;
``analyse_trial`` gives Kaplan-Meier curves with confidence bands, bootstrap intervals of the
median progression-free survival and hazard ratios. May import twin, calibrate and growth,
never cli. See docs/trials.md.
"""

from __future__ import annotations

from braintwin.cohort.patients import draw_cohort, trial_brain
from braintwin.cohort.results import ResultsFolder
from braintwin.cohort.run import TrialRun, connect, run_trial
from braintwin.cohort.spec import (
    ArmSpec,
    PatientOutcome,
    PatientSpec,
    PlanFactory,
    TrialSettings,
    named_arm,
    named_plan,
    parse_arms,
    resolve_plan,
)
from braintwin.cohort.task import run_patient

__all__ = [
    "ArmSpec",
    "PatientOutcome",
    "PatientSpec",
    "PlanFactory",
    "ResultsFolder",
    "TrialRun",
    "TrialSettings",
    "connect",
    "draw_cohort",
    "named_arm",
    "named_plan",
    "parse_arms",
    "resolve_plan",
    "run_patient",
    "run_trial",
    "trial_brain",
]
