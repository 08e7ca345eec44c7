"""Tumour growth engine: reaction-diffusion with radiotherapy and chemotherapy.

Public API (stable; calibration and planning build on it):

- ``GrowthParameters`` (D_w mm²/day, rho 1/day, alpha 1/Gy, alpha_beta Gy, ...), ``RANGES``,
  ``PRIORS``.
- ``Domain`` (brain mask + tissue fractions; ``from_tissue_maps``, ``homogeneous``,
  ``coarsen``, ``crop``); ``mni152_tissue_maps(target)`` for atlas tissue maps.
- ``SOLVERS`` registry ("reference", "numba", "torch") and
  ``simulate(u0, domain, params, plan, t_days, *, solver) -> Trajectory``.
- ``simulate_radial(params, plan, t_days, *, tc_radius_mm, ...) -> RadialTrajectory``: the
  spherically symmetric fast form (a spherical tumour in a homogeneous ball; ~ms per run).
- ``density_from_segmentation``, ``observe``, ``to_segmentation``, ``ObservationThresholds``.
- ``logistic_volume`` / ``logistic_closed_form`` / ``reaction_coefficients`` (logistic ODE).
- ``grow_from_segmentation(seg, brain_mask, params, plan, start, until) -> GrowthRun`` (the
  ``grow`` command), ``synthesize_patient`` (in-silico patients, SYNTHETIC).
- Treatment plans: ``standard_stupp`` (with adjuvant temozolomide), ``radiotherapy_alone``,
  ``hypofractionated``, ``no_treatment``, ``lq_survival``, ``target_dose_map``.
- ``growth.profile``: the density profile a tumour grows from a seed (initial conditions);
  ``growth.synthetic_io``: the brain domain and on-disk layout of ``simulate``.
"""

from braintwin.growth.domain import Domain
from braintwin.growth.grow import GrowthRun, grow_from_segmentation
from braintwin.growth.logistic import (
    VolumeCurve,
    logistic_closed_form,
    logistic_volume,
    reaction_coefficients,
)
from braintwin.growth.observe import (
    COMPARTMENT_REGIONS,
    ObservationThresholds,
    density_from_segmentation,
    observe,
    to_segmentation,
)
from braintwin.growth.parameters import PRIORS, RANGES, GrowthParameters
from braintwin.growth.radial import RadialTrajectory, simulate_radial
from braintwin.growth.simulate import simulate
from braintwin.growth.solvers import SOLVERS, Solver, get_solver, stable_dt
from braintwin.growth.synthetic import SyntheticPatient, synthesize_patient
from braintwin.growth.tissue import TissueMaps, mni152_domain, mni152_tissue_maps
from braintwin.growth.trajectory import Trajectory
from braintwin.growth.treatment import (
    hypofractionated,
    lq_survival,
    no_treatment,
    plan_by_name,
    radiotherapy_alone,
    standard_stupp,
    target_dose_map,
    weekday_fractions,
)

__all__ = [
    "COMPARTMENT_REGIONS",
    "PRIORS",
    "RANGES",
    "SOLVERS",
    "Domain",
    "GrowthParameters",
    "GrowthRun",
    "ObservationThresholds",
    "RadialTrajectory",
    "Solver",
    "SyntheticPatient",
    "TissueMaps",
    "Trajectory",
    "VolumeCurve",
    "density_from_segmentation",
    "get_solver",
    "grow_from_segmentation",
    "hypofractionated",
    "logistic_closed_form",
    "logistic_volume",
    "lq_survival",
    "mni152_domain",
    "mni152_tissue_maps",
    "no_treatment",
    "observe",
    "plan_by_name",
    "radiotherapy_alone",
    "reaction_coefficients",
    "simulate",
    "simulate_radial",
    "stable_dt",
    "standard_stupp",
    "synthesize_patient",
    "target_dose_map",
    "to_segmentation",
    "weekday_fractions",
]
