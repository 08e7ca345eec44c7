"""Virtual patients of a trial (all SYNTHETIC): which brain, where the tumour sits, how big.

Brains (``TrialSettings.brain``):

* ``"ball"``: the 1.4 L homogeneous white-matter ball of ``eval population``
  (``calibrate.trial.ball_brain``);
* ``"mni"``: the MNI152 2009 template shipped with nilearn (no download), grey/white matter
  probability maps block-averaged from 1 mm to the trial resolution, CSF = brain - GM - WM,
  so D = D_w in white matter, D_w/10 in grey matter and 0 in CSF (``GrowthParameters``'
  ``gm_ratio`` 0.1 and ``csf_ratio`` 0; Swanson et al. 2000, Lipková et al. 2019). The seed
  (the residual core's centre) is a random voxel with white-matter fraction >= 0.5, deep
  enough that the core fits inside the brain (>= max(10 mm, its radius) from the edge),
  jittered uniformly within the voxel.

Sizes (``TrialSettings.sizes``), the T1ce-visible (TC) core at the first radiotherapy day:

* ``"residual"``: log-uniform 2-30 mL (the assumption of ``eval population``);
* ``"literature"``: size at diagnosis and extent of resection from one published series
  (doi 10.1016/j.wneu.2018.04.067, World Neurosurg 2018;115:e448, 61 glioblastomas):
  pre-operative enhancing volume median 18.2 mL, IQR 8.2-41.7 mL, drawn log-normal with
  that median and IQR (sigma = ln(41.7/8.2)/1.349 = 1.205; the quartiles are symmetric in
  log, 0.80 and 0.83), truncated to 1-150 mL; the remnant fraction has median 1.3 %, IQR
  0-42.9 %, drawn from the quantile function linear between those quartiles (0 below the
  25th percentile, 100 % at the top: biopsy). Residual = diagnosis volume x remnant, at least
  ``MIN_RESIDUAL_ML`` (a gross-total resection leaves infiltrating cells; the model carries
  them as the smallest visible core, which grows back as a new lesion).

(D_w, ρ, α) come from ``calibrate.trial``'s patient prior in every case. With
``brain="ball"`` and ``sizes="residual"`` the patients are exactly those of
``eval population`` for the same seed.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from braintwin.calibrate.trial import (
    BRAIN_ML,
    VirtualPatient,
    ball_brain,
    draw_patients,
    patient_prior_sampler,
)
from braintwin.cohort.spec import TrialSettings
from braintwin.growth.domain import Domain
from braintwin.growth.parameters import PRIORS, GrowthParameters

__all__ = [
    "DIAGNOSIS_ML_MEDIAN",
    "DIAGNOSIS_ML_RANGE",
    "DIAGNOSIS_ML_SIGMA",
    "MIN_RESIDUAL_ML",
    "draw_cohort",
    "residual_from_literature",
    "trial_brain",
]

DIAGNOSIS_ML_MEDIAN = 18.2
DIAGNOSIS_ML_SIGMA = math.log(41.7 / 8.2) / 1.349  # IQR of a normal = 1.349 sigma
DIAGNOSIS_ML_RANGE = (1.0, 150.0)
# Remnant fraction quantiles (u, fraction) from the same series: 25 % / 50 % / 75 %.
REMNANT_QUANTILES = ((0.0, 0.0), (0.25, 0.0), (0.5, 0.013), (0.75, 0.429), (1.0, 1.0))
MIN_RESIDUAL_ML = 0.1
MIN_DEPTH_MM = 10.0
MIN_WM = 0.5


@functools.lru_cache(maxsize=2)
def trial_brain(kind: str, resolution_mm: float) -> tuple[Domain, np.ndarray]:
    """(domain, world coordinates (3, nx, ny, nz) in mm) of a trial brain; cached per
    process, so a Dask worker builds it once for all its patients."""
    if kind == "ball":
        return ball_brain(resolution_mm)
    from braintwin.growth.tissue import mni152_domain

    res = int(resolution_mm)
    base = 2 if res % 2 == 0 else 1
    domain = mni152_domain(base).coarsen(res // base)
    idx = np.indices(domain.shape).astype(np.float32)
    aff = domain.affine
    world = np.stack(
        [sum(aff[a, b] * idx[b] for b in range(3)) + np.float32(aff[a, 3]) for a in range(3)]
    ).astype(np.float32)
    return domain, world


def residual_from_literature(rng: np.random.Generator) -> tuple[float, float]:
    """(diagnosis volume, residual volume at radiotherapy) in mL (module doc)."""
    lo, hi = DIAGNOSIS_ML_RANGE
    while True:
        v = float(DIAGNOSIS_ML_MEDIAN * math.exp(DIAGNOSIS_ML_SIGMA * rng.standard_normal()))
        if lo <= v <= hi:
            break
    us, fs = zip(*REMNANT_QUANTILES, strict=True)
    remnant = float(np.interp(rng.uniform(), us, fs))
    return v, max(v * remnant, MIN_RESIDUAL_ML)


def _mni_seed(
    settings: TrialSettings, tc_ml: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    domain, world = trial_brain(settings.brain, settings.resolution_mm)
    depth = _depth(settings.brain, settings.resolution_mm)
    r_tc = (3 * tc_ml * 1000 / (4 * math.pi)) ** (1 / 3)
    ok = (domain.wm >= MIN_WM) & (depth >= max(MIN_DEPTH_MM, r_tc))
    if not ok.any():  # a very large core: the deepest white matter there is
        ok = (domain.wm >= MIN_WM) & (depth >= float(depth[domain.wm >= MIN_WM].max()) * 0.9)
    cand = np.argwhere(ok)
    i, j, k = cand[rng.integers(len(cand))]
    jitter = (rng.uniform(-0.5, 0.5, 3) * np.asarray(domain.spacing)).tolist()
    c = [float(world[a, i, j, k]) + jitter[a] for a in range(3)]
    return (c[0], c[1], c[2])


@functools.lru_cache(maxsize=2)
def _depth(kind: str, resolution_mm: float) -> np.ndarray:
    """Distance (mm) of every brain voxel from the brain's edge."""
    from scipy import ndimage

    domain = trial_brain(kind, resolution_mm)[0]
    return np.asarray(ndimage.distance_transform_edt(domain.mask, sampling=domain.spacing))


def draw_cohort(settings: TrialSettings) -> list[VirtualPatient]:
    """The trial's ``n`` virtual patients, reproducible from ``settings.seed``."""
    rng = np.random.default_rng(settings.seed)
    if settings.brain == "ball" and settings.sizes == "residual":
        return draw_patients(settings.n, rng, prior=settings.prior)
    sampler = patient_prior_sampler(None, settings.prior)
    theta = np.exp(sampler.sample(settings.n, rng))
    names = list(sampler.names)
    a_lo, a_hi, _ = PRIORS["alpha"]
    radius = (3 * BRAIN_ML * 1000 / (4 * math.pi)) ** (1 / 3)
    out = []
    for row in theta:
        values = dict(zip(names, (float(x) for x in row), strict=True))
        params = GrowthParameters(
            D_w=values["D_w"], rho=values["rho"], alpha=float(rng.uniform(a_lo, a_hi))
        )
        if settings.sizes == "literature":
            tc = residual_from_literature(rng)[1]
        else:
            tc = float(np.exp(rng.uniform(math.log(2.0), math.log(30.0))))
        if settings.brain == "mni":
            centre = _mni_seed(settings, tc, rng)
        else:
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            r_tc = (3 * tc * 1000 / (4 * math.pi)) ** (1 / 3)
            off = d * rng.uniform(0.0, max(radius - 25.0 - r_tc, 0.0))
            centre = (float(off[0]), float(off[1]), float(off[2]))
        out.append(VirtualPatient(params, tc, centre))
    return out
