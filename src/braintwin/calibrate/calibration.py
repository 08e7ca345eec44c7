"""Bayesian calibration of the growth model to a patient's visits, and assimilation of new ones.

Model: the first visit's segmentation gives the initial density, built for each parameter
sample as the profile those parameters grow to the segmented size (``forward``,
``growth.profile``); D_w and ρ (and the radiosensitivity α when radiotherapy falls between
visits) are unknown. The likelihood compares each later visit's masks with the simulated
density (``likelihood``). The
posterior is sampled with emcee (affine-invariant ensemble; Foreman-Mackey et al. 2013) on a
tabulated log-likelihood emulator (``emulator``) built from a few hundred forward runs on a
cropped ~2 mm grid (``forward``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from braintwin.calibrate.emulator import GridEmulator, build_emulator
from braintwin.calibrate.forward import ReducedProblem, observed_regions, single_thread
from braintwin.calibrate.likelihood import ObservationModel, default_observation
from braintwin.calibrate.priors import Prior, literature_prior
from braintwin.calibrate.records import Posterior
from braintwin.errors import CalibrationError, InputError
from braintwin.growth import Domain
from braintwin.types import TreatmentPlan, Volume

__all__ = ["LONG_GAP_DAYS", "assimilate", "calibrate", "check_visits"]

Progress = Callable[[str, float], None]
LONG_GAP_DAYS = 730  # beyond two years between visits the model extrapolates far: say so


def check_visits(
    visits: Sequence[tuple[dt.date, Volume]], brain_mask: Volume
) -> tuple[list[tuple[dt.date, Volume]], list[str]]:
    """Validate and date-sort visits; returns (sorted visits, notes for the user).

    Raises ``InputError`` for no visits, duplicate dates or grids that differ from the brain
    mask, and ``CalibrationError`` when the first visit shows no tumour.
    """
    notes: list[str] = []
    if not visits:
        raise InputError("no visits given", "calibration needs at least one segmented visit")
    for d, seg in visits:
        if not isinstance(d, dt.date) or not isinstance(seg, Volume):
            raise InputError("each visit must be a (date, segmentation Volume) pair")
        if not seg.same_grid(brain_mask):
            raise InputError(
                f"the segmentation of {d} is not on the brain mask's grid",
                "register and resample visits onto one grid before calibrating",
            )
    ordered = sorted(visits, key=lambda v: v[0])
    if [d for d, _ in ordered] != [d for d, _ in visits]:
        notes.append("visits were given out of date order; they were sorted by date")
    dates = [d for d, _ in ordered]
    if len(set(dates)) != len(dates):
        raise InputError("two visits share one date", "merge or drop the duplicate visit")
    if not np.any(np.asarray(ordered[0][1].data) > 0):
        raise CalibrationError(
            f"the first visit ({dates[0]}) shows no tumour",
            "start the calibration at the first visit with a segmented tumour",
        )
    for a, b in itertools.pairwise(dates):
        gap = (b - a).days
        if gap > LONG_GAP_DAYS:
            notes.append(
                f"{gap} days between visits {a} and {b}: the model extrapolates over a long "
                "interval (treatments, resections in between are unknown); trust it less"
            )
    return ordered, notes


def _box(prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = prior.log_low, prior.log_high
    if prior.kind == "log-normal":  # no need to tabulate where the prior has no mass
        sd = np.sqrt(np.diag(prior.cov))  # type: ignore[arg-type]
        lo = np.maximum(lo, prior.mean - 4 * sd)
        hi = np.minimum(hi, prior.mean + 4 * sd)
    return lo, hi


def _prior_posterior(
    prior: Prior,
    seg: Volume,
    brain_mask: Volume,
    date: dt.date,
    obs: ObservationModel,
    notes: list[str],
    plan: TreatmentPlan | None,
    seed: int,
    n: int = 2000,
) -> Posterior:
    samples = np.exp(prior.sample(n, np.random.default_rng(seed)))
    notes.append(
        "one visit only: no growth can be measured yet, so the 'posterior' is the "
        f"{prior.source} prior; forecasts from it are population forecasts"
    )
    return Posterior(
        prior.names,
        samples,
        "prior",
        prior,
        obs,
        [date],
        seg,
        brain_mask,
        {"n_samples": n},
        notes,
        plan,
    )


def calibrate(
    visits: Sequence[tuple[dt.date, Volume]],
    brain_mask: Volume,
    *,
    plan: TreatmentPlan | None = None,
    prior: Prior | None = None,
    observation: ObservationModel | None = None,
    n_walkers: int = 32,
    n_steps: int = 1500,
    grid_points: int = 7,
    stages: int = 4,
    margin_mm: float = 20.0,
    target_mm: float = 2.0,
    max_voxels: int = 150_000,
    solver: str = "numba",
    tissue: Domain | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Posterior:
    """Posterior of the growth parameters given dated segmentations of one patient.

    Args:
        visits: (date, segmentation) pairs; segmentations in BraTS labels (or binary enhancing
            masks) on the grid of ``brain_mask``; any order (sorted, with a note).
        brain_mask: growth domain (MASK Volume, same grid).
        plan: treatment given; α is calibrated only when a fraction falls between visits.
        prior: prior over log-parameters (default: log-uniform literature ranges).
        observation: thresholds and noise scales of the likelihood.
        n_walkers, n_steps: emcee ensemble size and chain length (on the emulator: cheap).
        grid_points, stages: emulator grid points per axis and refinement stages (each stage
            costs grid_points^k forward runs).
        margin_mm: crop margin (mm) around the observed tumours.
        target_mm, max_voxels: reduced grid spacing (mm) and voxel budget.
        tissue: growth ``Domain`` with tissue fractions on the same grid (default homogeneous).
        seed: seeds emcee and the initialisation.
        progress: callback(message, fraction).

    Returns:
        ``Posterior`` (source ``"mcmc"``, or ``"prior"`` with a note for a single visit).
    """
    t_start = time.perf_counter()
    obs_model = observation or default_observation()
    ordered, notes = check_visits(visits, brain_mask)
    d0, seg0 = ordered[0]
    last_date, last_seg = ordered[-1]
    names: tuple[str, ...] = ("D_w", "rho")
    if plan is not None and plan.has_radiotherapy_between(d0, last_date):
        names = (*names, "alpha")
    base_prior = prior or literature_prior(names)
    pri = base_prior.with_params(names)
    if len(ordered) == 1:
        return _prior_posterior(pri, seg0, brain_mask, d0, obs_model, notes, plan, seed)
    later = []
    for d, seg in ordered[1:]:
        regions = observed_regions(seg)
        if not regions["enhancing"].any() and not np.any(regions.get("flair", False)):
            if plan is None or not plan.has_radiotherapy_between(d0, d):
                raise CalibrationError(
                    f"the tumour vanished at the visit of {d} without treatment in between",
                    "growth cannot explain it (resection? wrong segmentation?); restart the "
                    "calibration from a visit after it, or give the treatment plan",
                )
            notes.append(f"no visible tumour at {d}: explained by the radiotherapy only")
        later.append((float((d - d0).days), regions))
    problem = ReducedProblem.build(
        seg0,
        brain_mask,
        d0,
        extent_masks=[r["enhancing"] for _, r in later],
        margin_mm=margin_mm,
        plan=plan,
        observation=obs_model,
        target_mm=target_mm,
        max_voxels=max_voxels,
        solver=solver,
        tissue=tissue,
    )
    coarse_obs = [(day, {k: problem.grid.reduce(v) for k, v in r.items()}) for day, r in later]
    k = len(names)
    total_runs = stages * grid_points**k
    done = [0]

    def exact(batch: np.ndarray) -> np.ndarray:
        out = np.empty(len(batch))
        for i, th in enumerate(batch):
            out[i] = problem.loglik(names, th, coarse_obs)
            done[0] += 1
            if progress is not None:
                progress("forward runs for the likelihood emulator", min(done[0] / total_runs, 1.0))
        return out

    def log_prior(rows: np.ndarray) -> np.ndarray:
        return np.array([pri.log_prob(r) for r in np.atleast_2d(rows)])

    lo, hi = _box(pri)
    with single_thread():
        emu = build_emulator(exact, lo, hi, log_prior, points=[grid_points] * k, stages=stages)
        chain, diag = _sample(emu, log_prior, k, n_walkers, n_steps, seed)
        check = chain[np.random.default_rng(seed + 1).choice(len(chain), 4, replace=False)]
        err = np.abs(exact(check) - emu(check))
    samples = np.exp(chain)
    for i, n in enumerate(names):  # posterior piled on a bound: the data disagree with the prior
        frac = np.mean(
            (chain[:, i] - pri.log_low[i] < 0.05) | (pri.log_high[i] - chain[:, i] < 0.05)
        )
        if frac > 0.2:
            notes.append(
                f"{n}: {frac:.0%} of the posterior sits on the prior bound; the data "
                "want a value outside the literature range"
            )
    diag.update(
        {
            "forward_runs": emu.n_runs + len(check),
            "emulator_stages": [
                {"low": s.low.tolist(), "high": s.high.tolist()} for s in emu.stages
            ],
            "emulator_check_max_abs_error_nats": float(err.max()),
            "grid_shape": list(problem.grid.shape),
            "grid_spacing_mm": list(problem.grid.spacing),
            "seconds": time.perf_counter() - t_start,
        }
    )
    return Posterior(
        names,
        samples,
        "mcmc",
        pri,
        obs_model,
        [d for d, _ in ordered],
        last_seg,
        brain_mask,
        diag,
        notes,
        plan,
    )


def _sample(
    emu: GridEmulator,
    log_prior: Callable[[np.ndarray], np.ndarray],
    k: int,
    n_walkers: int,
    n_steps: int,
    seed: int,
    max_keep: int = 4000,
) -> tuple[np.ndarray, dict[str, Any]]:
    import emcee

    rng = np.random.default_rng(seed)
    n_walkers = max(n_walkers, 2 * k + 2)
    # Start the walkers from the emulated posterior on the finest box (importance resampling),
    # so no burn-in is wasted crawling in from the prior's far corners.
    fine = emu.stages[-1]
    cand = rng.uniform(fine.low, fine.high, size=(50 * n_walkers, k))
    lp = emu(cand) + log_prior(cand)
    w = np.exp(lp - lp.max())
    start = cand[rng.choice(len(cand), n_walkers, replace=False, p=w / w.sum())]

    def log_prob(theta: np.ndarray) -> np.ndarray:
        lpr = log_prior(theta)
        out = np.full(len(theta), -np.inf)
        ok = np.isfinite(lpr)
        out[ok] = lpr[ok] + emu(theta[ok])
        return out

    sampler = emcee.EnsembleSampler(n_walkers, k, log_prob, vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    sampler.run_mcmc(start, n_steps, progress=False)
    tau = np.asarray(sampler.get_autocorr_time(tol=0, discard=n_steps // 3), float)
    chain = sampler.get_chain(discard=n_steps // 3, flat=True)
    if len(chain) > max_keep:
        chain = chain[rng.choice(len(chain), max_keep, replace=False)]
    kept_steps = n_steps - n_steps // 3
    ess = n_walkers * kept_steps / float(np.max(tau)) if np.all(np.isfinite(tau)) else 0.0
    return chain, {
        "sampler": "emcee.EnsembleSampler on the grid emulator",
        "n_walkers": n_walkers,
        "n_steps": n_steps,
        "acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
        "autocorr_time_steps": tau.tolist(),
        "ess": float(ess),
    }


def assimilate(
    posterior: Posterior,
    new_visit: tuple[dt.date, Volume],
    *,
    plan: TreatmentPlan | None = None,
    inflate: float = 1.5,
    **kwargs: object,
) -> Posterior:
    """Update a posterior with a new visit: the old posterior becomes the prior.

    The previous posterior's samples are summarised by a log-normal (moment matching, its
    covariance multiplied by ``inflate`` to allow parameter drift and emulator error), then
    the interval from the previous last visit to ``new_visit`` is calibrated with it. Earlier
    intervals enter only through that prior (sequential Bayes with a Gaussian closure).
    """
    date, seg = new_visit
    if date <= posterior.last_date:
        raise InputError(
            f"the new visit ({date}) is not after the last assimilated one ({posterior.last_date})",
            "re-calibrate from all visits to insert an earlier one",
        )
    if posterior.source == "prior":
        new_prior = posterior.prior
    else:
        new_prior = Prior.from_samples(
            posterior.names, posterior.log_samples, inflate=inflate, source="posterior"
        )
    use_plan = plan if plan is not None else posterior.plan
    result = calibrate(
        [(posterior.last_date, posterior.last_seg), (date, seg)],
        posterior.brain_mask,
        plan=use_plan,
        prior=new_prior,
        observation=posterior.observation,
        **kwargs,  # type: ignore[arg-type]
    )
    result.visit_dates = [*posterior.visit_dates, date]
    # A prior-only posterior's notes describe the one-visit state this visit has just ended.
    carried = [] if posterior.source == "prior" else posterior.notes
    result.notes = [*carried, *result.notes]
    return result
