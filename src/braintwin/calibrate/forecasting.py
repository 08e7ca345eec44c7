"""Probabilistic forecasts: push posterior samples through the growth model to a future date.

For each of ``n_samples`` posterior draws the model runs from the last visit's segmentation to
``date`` under ``plan``; the fraction of draws in which a voxel is above the enhancing (FLAIR)
threshold is the probability map; masks at a credibility level c are {probability ≥ c}; the
volume trajectories give 50 %/90 % bands; time to progression is the first day the T1ce-visible
(TC) volume exceeds the RANO-style threshold over its nadir. RANO (Wen et al. 2010) calls progression at ≥ 25 %
increase of the sum of products of perpendicular diameters; for a tumour growing self-similarly
that is a volume ratio of 1.25^(3/2) ≈ 1.40 (used here by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from braintwin.calibrate.forward import ReducedProblem, single_thread
from braintwin.calibrate.priors import literature_prior
from braintwin.calibrate.records import Forecast, Posterior
from braintwin.errors import InputError
from braintwin.growth import Domain
from braintwin.types import Modality, TreatmentPlan, Volume

__all__ = ["MEASURABLE_ML", "RANO_VOLUME_RATIO", "forecast", "time_to_progression"]

RANO_VOLUME_RATIO = 1.25**1.5  # 25 % increase of the bidimensional product, as a volume ratio
MEASURABLE_ML = 4.0 / 3.0 * np.pi * 5.0**3 / 1000.0  # a 10 mm sphere: RANO's measurable lesion


def time_to_progression(
    days: np.ndarray,
    volumes: np.ndarray,
    ratio: float,
    *,
    min_increase: float = 0.0,
    interpolate: bool = True,
) -> float:
    """First day at which ``volumes`` ≥ ratio · nadir and ≥ nadir + ``min_increase``; inf if
    never. The nadir is the smallest earlier volume, the baseline included (RANO measures
    progression from the best response, Wen et al. 2010).

    Args:
        days: (m,) ascending days, days[0] = 0 (the baseline).
        volumes: (m,) T1ce-visible (TC) volume at those days (any unit).
        ratio: progression threshold as a volume ratio.
        min_increase: smallest absolute increase that counts (same unit as ``volumes``; e.g.
            a measurable 10 mm lesion, 0.52 mL), so a vanished tumour progresses when a
            measurable one returns.
        interpolate: linear interpolation between samples (False: the first sample day, as
            at discrete assessments).
    """
    nadir = float(volumes[0])
    for i in range(1, len(days)):
        target = max(ratio * nadir, nadir + min_increase)
        v = float(volumes[i])
        if (v >= target and target > 0) or (target <= 0 and v > 0):
            if not interpolate or target <= 0:
                return float(days[i])
            a = float(volumes[i - 1])
            frac = 0.0 if v == a else (target - a) / (v - a)
            return float(days[i - 1] + np.clip(frac, 0, 1) * (days[i] - days[i - 1]))
        nadir = min(nadir, v)
    return float("inf")


def forecast(
    posterior: Posterior,
    initial_seg: Volume | None,
    brain_mask: Volume | None,
    date: dt.date,
    plan: TreatmentPlan | None = None,
    *,
    start: dt.date | None = None,
    n_samples: int = 48,
    credibility: float = 0.5,
    n_times: int = 24,
    progression_ratio: float = RANO_VOLUME_RATIO,
    tissue: Domain | None = None,
    target_mm: float = 2.0,
    max_voxels: int = 150_000,
    seed: int = 0,
    dose: Volume | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Forecast:
    """Forecast the tumour at ``date`` from posterior (or prior) samples.

    Args:
        posterior: from :func:`calibrate` / :func:`assimilate` (a one-visit "posterior" is the
            prior; the forecast then says so).
        initial_seg: segmentation to start from (default ``posterior.last_seg``).
        brain_mask: growth domain on its grid (default ``posterior.brain_mask``).
        date: forecast date (after ``start``).
        plan: treatment in the forecast window (None: untreated growth).
        start: date of ``initial_seg`` (default ``posterior.last_date``).
        n_samples: posterior draws pushed through the model.
        credibility: probability level of the returned masks (0-1).
        n_times: number of output days for the volume bands and time to progression.
        progression_ratio: enhancing-volume ratio that counts as progression.
        tissue: growth ``Domain`` with tissue fractions on the segmentation grid.
        seed: seeds the draw of samples.
        dose: relative radiotherapy dose map on the segmentation's grid (1 = the plan's
            fraction dose; e.g. ``plan.target.ctv_dose_map(ctv)``); default: the visible
            tumour grown by the plan's ``target_margin_mm`` (``growth.simulate``).
    """
    seg = initial_seg if initial_seg is not None else posterior.last_seg
    brain = brain_mask if brain_mask is not None else posterior.brain_mask
    t0 = start or posterior.last_date
    horizon = float((date - t0).days)
    if horizon <= 0:
        raise InputError(f"forecast date {date} is not after the start {t0}")
    if not 0 < credibility < 1:
        raise InputError(f"credibility must lie in (0, 1), got {credibility}")
    if n_samples < 2:
        raise InputError("n_samples must be at least 2")
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    if posterior.source == "prior":
        notes.append(
            f"forecast from the {posterior.prior.source} prior (one visit only: "
            "no patient-specific growth measured yet)"
        )
    rows = posterior.samples[rng.integers(len(posterior.samples), size=n_samples)]
    names = list(posterior.names)
    if plan is not None and plan.has_radiotherapy_between(t0, date) and "alpha" not in names:
        alpha = np.exp(literature_prior(("alpha",)).sample(n_samples, rng))
        rows, names = np.hstack([rows, alpha]), [*names, "alpha"]
        notes.append(
            "radiosensitivity alpha not calibrated for this patient: drawn from the "
            "literature prior 0.02-0.04 /Gy"
        )
    log_rows = np.log(rows)
    speed = 2.0 * np.sqrt(rows[:, names.index("D_w")] * rows[:, names.index("rho")])
    margin = float(min(np.quantile(speed, 0.95) * horizon + 10.0, 120.0))
    problem = ReducedProblem.build(
        seg,
        brain,
        t0,
        margin_mm=margin,
        plan=plan,
        observation=posterior.observation,
        target_mm=target_mm,
        max_voxels=max_voxels,
        tissue=tissue,
        dose=dose,
    )
    days = np.linspace(0.0, horizon, n_times + 1)
    obs = posterior.observation
    p_enh = np.zeros(problem.grid.shape, np.float64)
    p_fl = np.zeros(problem.grid.shape, np.float64)
    vols = {
        "enhancing": np.zeros((n_samples, len(days))),
        "flair": np.zeros((n_samples, len(days))),
    }
    ttp = np.zeros(n_samples)
    with single_thread():
        for i, th in enumerate(log_rows):
            traj = problem.run(names, th, days[1:].tolist(), keep=[horizon])
            u = traj.at(horizon).data
            p_enh += u >= obs.enhancing_threshold
            p_fl += u >= obs.flair_threshold
            vols["enhancing"][i] = traj.enhancing_mm3 / 1000.0  # mL
            vols["flair"][i] = traj.flair_mm3 / 1000.0
            # On the expected T1ce-visible volume (threshold uncertain within 0.6-0.8), which
            # does not blink when a near-uniform treated core hovers at the threshold.
            ttp[i] = time_to_progression(
                days,
                traj.enhancing_expected_mm3 / 1000.0,
                progression_ratio,
                min_increase=MEASURABLE_ML,
            )
            if progress is not None:
                progress("forecast samples", (i + 1) / n_samples)
    prob = {"enhancing": p_enh / n_samples, "flair": p_fl / n_samples}
    fine_prob = {k: np.clip(problem.grid.expand(v), 0, 1) for k, v in prob.items()}
    prob_vols = {
        k: seg.with_data(v.astype(np.float32), Modality.PROBABILITY, credibility=None)
        for k, v in fine_prob.items()
    }
    masks = {
        k: seg.with_data((v >= credibility).astype(np.uint8), Modality.MASK)
        for k, v in fine_prob.items()
    }
    qs = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}
    bands = {r: {k: np.quantile(v, q, axis=0) for k, q in qs.items()} for r, v in vols.items()}
    finite = ttp[np.isfinite(ttp)]
    p_prog = float(np.isfinite(ttp).mean())

    def quant(q: float) -> float | None:
        # A quantile beyond the censored fraction is "not reached within the horizon" (None);
        # inverted_cdf picks a sample, so no inf - inf interpolation.
        if q > p_prog or finite.size == 0:
            return None
        v = float(np.quantile(ttp, q, method="inverted_cdf"))
        return v if np.isfinite(v) else None

    progression = {
        "volume_ratio_threshold": progression_ratio,
        "definition": (
            "T1ce-visible (TC) volume >= ratio x nadir and >= nadir + 0.52 mL (RANO 25 % SPD "
            "~ 1.40 volume, from the best response; 0.52 mL = a measurable 10 mm lesion)"
        ),
        "p_progression_by_date": p_prog,
        "median_days": quant(0.5),
        "q05_days": quant(0.05),
        "q95_days": quant(0.95),
        "samples_days": [float(t) if np.isfinite(t) else None for t in ttp],
        "horizon_days": horizon,
    }
    return Forecast(
        t0,
        date,
        prob_vols,
        masks,
        credibility,
        days,
        bands,
        progression,
        posterior.source,
        n_samples,
        notes,
    )
