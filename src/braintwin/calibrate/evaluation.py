"""``braintwin eval forecast``: the twin against the no-growth and uniform-expansion baselines.

Every method forecasts the follow-up enhancing mask of each pair from the baseline mask and
the interval between the scan dates, with population numbers fitted elsewhere (shipped JSON),
or — with leave-one-out — fitted on the other pairs only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from braintwin.calibrate.baselines import dice, no_growth, uniform_expansion, volume_error
from braintwin.calibrate.calibration import calibrate
from braintwin.calibrate.forecasting import forecast
from braintwin.calibrate.likelihood import ObservationModel
from braintwin.calibrate.population import (
    GRID_POINTS,
    evaluate_pair_grid,
    fit_population,
    pair_inputs,
)
from braintwin.calibrate.priors import Prior
from braintwin.calibrate.progression import SPACING_NOTE, ProgressionPair
from braintwin.errors import InputError

__all__ = ["METHODS", "evaluate_pairs", "leave_one_out", "twin_forecast_mask"]

METHODS = ("twin", "no_growth", "uniform_expansion")
Progress = Callable[[str, float], None]


def twin_forecast_mask(
    pair: ProgressionPair, population: dict[str, Any], *, n_samples: int = 32, seed: int = 0
) -> np.ndarray:
    """The twin's forecast of the follow-up enhancing mask (boolean, fine grid).

    One visit only: the twin starts from the baseline mask and samples the population prior.
    """
    seg, brain = pair_inputs(pair)
    obs = ObservationModel(**population.get("observation", {}))
    post = calibrate(
        [(pair.pre_date, seg)],
        brain,
        prior=Prior.from_dict(population["prior"]),
        observation=obs,
        seed=seed,
    )
    fc = forecast(
        post,
        None,
        None,
        pair.post_date,
        None,
        n_samples=n_samples,
        credibility=float(population["credibility"]),
        seed=seed,
    )
    return np.asarray(fc.masks["enhancing"].data, bool)


def _scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {"dice": dice(pred, truth), "volume_error": volume_error(pred, truth)}


def _one_pair(pair: ProgressionPair, population: dict[str, Any], n_samples: int) -> dict[str, Any]:
    truth = np.asarray(pair.post_mask.data, bool)
    pre = np.asarray(pair.pre_mask.data, bool)
    rate = float(population["uniform_expansion"]["rate_mm_per_day"])
    preds = {
        "twin": twin_forecast_mask(pair, population, n_samples=n_samples),
        "no_growth": no_growth(pre),
        "uniform_expansion": uniform_expansion(
            pre, pair.interval_days, rate, pair.pre_mask.spacing
        ),
    }
    row: dict[str, Any] = {"pair": pair.pair_id, "interval_days": pair.interval_days}
    if "alignment" in pair.post_mask.meta:
        a = pair.post_mask.meta["alignment"]
        row["alignment"] = {k: a[k] for k in ("rms_shift_mm", "rotation_deg", "accepted")}
    row.update({m: _scores(p, truth) for m, p in preds.items()})
    return row


def _summary(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    for m in METHODS:
        out[m] = {k: float(np.mean([r[m][k] for r in rows])) for k in ("dice", "volume_error")}
    out["seconds_per_pair"] = seconds / max(len(rows), 1)
    out["spacing_note"] = SPACING_NOTE
    out["volume_error_definition"] = "|V_pred - V_true| / V_true, mean over pairs"
    out["pairs"] = rows
    return out


def evaluate_pairs(
    pairs: Sequence[ProgressionPair],
    population: dict[str, Any],
    *,
    n_samples: int = 32,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Apply shipped population numbers unchanged to every pair; per-method mean scores."""
    if not pairs:
        raise InputError("no pairs to evaluate")
    t0 = time.perf_counter()
    rows = []
    for i, p in enumerate(pairs):
        rows.append(_one_pair(p, population, n_samples))
        if progress is not None:
            progress("forecasting pairs", (i + 1) / len(pairs))
    out = _summary(rows, time.perf_counter() - t0)
    out["mode"] = "shipped population numbers"
    out["population_trained_on"] = population.get("trained_on")
    return out


def leave_one_out(
    pairs: Sequence[ProgressionPair],
    *,
    n_samples: int = 32,
    grid_points: int = GRID_POINTS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Leave-one-out: population numbers fitted on n-1 pairs, the held-out one forecast.

    The per-pair parameter grids do not depend on the training set, so they are computed once;
    each fold re-fits the population numbers from the other pairs' grids only.
    """
    if len(pairs) < 2:
        raise InputError("leave-one-out needs at least 2 pairs")
    t0 = time.perf_counter()
    grids = []
    for i, p in enumerate(pairs):
        grids.append(evaluate_pair_grid(p, n=grid_points))
        if progress is not None:
            progress("parameter grids", (i + 1) / len(pairs))
    rows, folds = [], []
    for i, held in enumerate(pairs):
        train = [p for j, p in enumerate(pairs) if j != i]
        pop = fit_population([g for j, g in enumerate(grids) if j != i], train)
        rows.append(_one_pair(held, pop, n_samples))
        folds.append(
            {
                "held_out": held.pair_id,
                "rate_mm_per_day": pop["uniform_expansion"]["rate_mm_per_day"],
                "prior_mean_log": pop["prior"]["mean"],
                "prior_cov_log": pop["prior"]["cov"],
                "credibility": pop["credibility"],
            }
        )
        if progress is not None:
            progress("leave-one-out folds", (i + 1) / len(pairs))
    out = _summary(rows, time.perf_counter() - t0)
    out["mode"] = "leave-one-out"
    out["folds"] = folds
    return out
