"""Scores of ``braintwin eval forecast``: the twin's own forecast against two baselines.

The twin side (ingesting each pair as two visits, reading its stored prospective score) lives in
:mod:`braintwin.twin.evaluate_forecast`; this module only scores, on the twin's grid and with
the twin's stored segmentations:

* ``twin``: the Dice and volume the twin stored as its ``forecast_score`` when the follow-up
  arrived (a forecast made from the baseline state only, before it saw the follow-up).
* ``no_growth``: the follow-up equals the baseline region.
* ``uniform_expansion``: the baseline region grown isotropically by ``rate * days`` mm; the rate
  is the shipped population number, or, with leave-one-out, fitted on the other pairs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from braintwin.calibrate.baselines import (
    dice,
    fit_expansion_rate,
    no_growth,
    uniform_expansion,
    volume_error,
)
from braintwin.errors import InputError

__all__ = ["METHODS", "PairOutcome", "TwinScore", "score_outcomes"]

METHODS = ("twin", "no_growth", "uniform_expansion")
VOLUME_ERROR_DEFINITION = "|V_pred - V_obs| / V_obs per pair, mean over pairs"


@dataclass(frozen=True)
class TwinScore:
    """The twin's prospective score of one follow-up (its ``forecast_score`` artifact).

    Attributes:
        dice: Dice of the forecast mask against the observed region.
        predicted_ml: median forecast volume (mL) of the compartment.
        observed_ml: observed volume (mL) of the region, as the twin measured it.
        source: what the forecast was made from (``"prior"``: a single-visit state).
        region: the observed region the twin compared with (e.g. ``"TC"``).
    """

    dice: float
    predicted_ml: float
    observed_ml: float
    source: str
    region: str


@dataclass(frozen=True)
class PairOutcome:
    """One pair after it went through the twin: everything the scores need.

    Attributes:
        pair_id: the pair folder's name (not a patient identifier).
        interval_days: days between the two visits.
        baseline, follow_up: boolean observed regions on the twin's grid (follow-up registered
            to the baseline by the twin's ingest).
        grid_spacing_mm: voxel size of the twin's grid.
        twin: the twin's stored prospective score.
        details: JSON-able extras for the row (input spacing, alignment, segmentation source).
    """

    pair_id: str
    interval_days: float
    baseline: np.ndarray
    follow_up: np.ndarray
    grid_spacing_mm: tuple[float, float, float]
    twin: TwinScore
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.grid_spacing_mm)) / 1000.0


def _ml(mask: np.ndarray, voxel_ml: float) -> float:
    return round(float(np.count_nonzero(mask)) * voxel_ml, 3)


def _method(pred: np.ndarray, truth: np.ndarray, voxel_ml: float) -> dict[str, float]:
    return {
        "dice": round(dice(pred, truth), 4),
        "volume_error": round(volume_error(pred, truth), 4),
        "predicted_ml": _ml(pred, voxel_ml),
    }


def _row(o: PairOutcome, rate: float) -> dict[str, Any]:
    truth = np.asarray(o.follow_up, bool)
    base = np.asarray(o.baseline, bool)
    observed_ml = _ml(truth, o.voxel_ml)
    twin_ve = abs(o.twin.predicted_ml - observed_ml) / max(observed_ml, o.voxel_ml)
    expanded = uniform_expansion(base, o.interval_days, rate, o.grid_spacing_mm)
    return {
        "pair": o.pair_id,
        "interval_days": o.interval_days,
        "observed_region": o.twin.region,
        "baseline_ml": _ml(base, o.voxel_ml),
        "observed_ml": observed_ml,
        "grid_spacing_mm": list(o.grid_spacing_mm),
        **o.details,
        "twin": {
            "dice": round(o.twin.dice, 4),
            "volume_error": round(twin_ve, 4),
            "predicted_ml": round(o.twin.predicted_ml, 3),
            "observed_ml_twin": round(o.twin.observed_ml, 3),
            "forecast_from": o.twin.source,
        },
        "no_growth": _method(no_growth(base), truth, o.voxel_ml),
        "uniform_expansion": {
            **_method(expanded, truth, o.voxel_ml),
            "rate_mm_per_day": rate,
        },
    }


def score_outcomes(
    outcomes: Sequence[PairOutcome],
    *,
    rate_mm_per_day: float | None = None,
    loo: bool = False,
) -> dict[str, Any]:
    """Per-pair rows and per-method means (the DESIGN.md shape of ``eval forecast``).

    Args:
        outcomes: the pairs, as the twin saw them.
        rate_mm_per_day: expansion rate of ``uniform_expansion`` (the shipped number); ignored
            with ``loo``.
        loo: fit the expansion rate for each pair on the other pairs' (baseline, follow-up)
            only. The twin is not refitted: it fits nothing on these pairs.
    """
    if not outcomes:
        raise InputError("no pairs to evaluate")
    if loo and len(outcomes) < 2:
        raise InputError("leave-one-out needs at least 2 pairs")
    if not loo and rate_mm_per_day is None:
        raise InputError("no expansion rate for uniform_expansion", "give one, or use --loo")
    training = [(o.baseline, o.follow_up, o.interval_days, o.grid_spacing_mm) for o in outcomes]
    rows = []
    for i, o in enumerate(outcomes):
        if loo:
            rate = fit_expansion_rate([t for j, t in enumerate(training) if j != i])
        else:
            rate = float(rate_mm_per_day)  # type: ignore[arg-type]
        rows.append(_row(o, rate))
    out: dict[str, Any] = {"n": len(rows)}
    for m in METHODS:
        out[m] = {
            k: round(float(np.mean([r[m][k] for r in rows])), 4) for k in ("dice", "volume_error")
        }
    out["twin_beats_no_growth"] = sum(r["twin"]["dice"] > r["no_growth"]["dice"] for r in rows)
    out["volume_error_definition"] = VOLUME_ERROR_DEFINITION
    out["pairs"] = rows
    return out
