"""Survival analysis of a virtual trial: Kaplan-Meier bands, bootstrap medians, hazard ratios.

* Kaplan-Meier (product-limit) survival per arm with pointwise confidence bands from
  Greenwood's variance on the log(-log) scale (Kalbfleisch & Prentice 1980; the default of
  R's ``survival::survfit``, ``conf.type = "log-log"``): with
  v(t) = sum_{t_i <= t} d_i / (n_i (n_i - d_i)), the band is S^exp(±z sqrt(v) / |ln S|).
* Median progression-free survival: the smallest time with S <= 0.5; its 90 % and 95 %
  intervals by the percentile bootstrap over patients (Efron & Tibshirani 1993), resampling
  whole patients so the arms stay paired. A median that is not reached in a resample counts as
  beyond follow-up; a bound beyond follow-up is reported as ``None`` (not reached).
* Hazard ratio of every arm against the last-named arm (the control): Cox proportional
  hazards on the arm indicator (``calibrate.survival.cox_hazard_ratio``; Breslow ties, Wald
  95 % interval). It treats the paired arms as independent samples, which ignores the pairing
  (conservative for the interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from braintwin.calibrate.survival import cox_hazard_ratio
from braintwin.calibrate.trial import DAYS_PER_MONTH
from braintwin.cohort.spec import PatientOutcome
from braintwin.errors import InputError

__all__ = ["BOOTSTRAP", "KMCurve", "analyse", "bootstrap_medians", "km_median", "km_with_bands"]

BOOTSTRAP = 2000


@dataclass(frozen=True)
class KMCurve:
    """Kaplan-Meier estimate at each distinct event time (survival just after it)."""

    times: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray  # Greenwood standard error of the survival
    lower: np.ndarray
    upper: np.ndarray
    level: float

    def at(self, t: float) -> tuple[float, float, float]:
        """(survival, lower, upper) at time ``t`` (right-continuous step function)."""
        k = int(np.searchsorted(self.times, t, side="right")) - 1
        if k < 0:
            return 1.0, 1.0, 1.0
        return float(self.survival[k]), float(self.lower[k]), float(self.upper[k])


def _tables(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct times, at risk, events) over all distinct times (censorings included)."""
    uniq, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e.astype(float), minlength=uniq.size)
    leaving = np.bincount(inv, minlength=uniq.size)
    at_risk = t.size - np.r_[0, np.cumsum(leaving)[:-1]]
    return uniq, at_risk.astype(float), d


def _check(times: Any, events: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, float)
    e = np.asarray(events, bool)
    if t.ndim != 1 or t.shape != e.shape or t.size == 0 or not np.all(np.isfinite(t)):
        raise InputError("survival data need equal-length finite times and event flags")
    return t, e


def km_with_bands(times: Any, events: Any, level: float = 0.95) -> KMCurve:
    """Kaplan-Meier curve with Greenwood log(-log) pointwise bands at ``level``."""
    t, e = _check(times, events)
    uniq, n, d = _tables(t, e)
    keep = d > 0
    uniq, n, d = uniq[keep], n[keep], d[keep]
    s = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > d, d / (n * (n - d)), np.inf)
        v = np.cumsum(terms)
        se = s * np.sqrt(v)
        z = NormalDist().inv_cdf(0.5 + level / 2)
        w = z * np.sqrt(v) / np.abs(np.log(s))
        lower = np.where(s > 0, s ** np.exp(w), 0.0)
        upper = np.where(s > 0, s ** np.exp(-w), 0.0)
    se = np.where(np.isfinite(se), se, 0.0)
    return KMCurve(uniq, n, d, s, se, lower, upper, level)


def km_median(times: Any, events: Any) -> float | None:
    """Smallest time at which the Kaplan-Meier survival is <= 0.5; None if never reached."""
    t, e = _check(times, events)
    uniq, n, d = _tables(t, e)
    s = np.cumprod(1.0 - d / n)
    hit = np.nonzero(s <= 0.5 + 1e-12)[0]
    return float(uniq[hit[0]]) if hit.size else None


def bootstrap_medians(
    times: np.ndarray, events: np.ndarray, *, draws: int = BOOTSTRAP, seed: int = 0
) -> np.ndarray:
    """(draws, arms) medians over patient resamples; +inf where a median is not reached.

    ``times`` and ``events`` are (patients, arms): one row per patient, paired across arms.
    """
    rng = np.random.default_rng(seed)
    n, k = times.shape
    out = np.empty((draws, k))
    for b in range(draws):
        idx = rng.integers(0, n, n)
        for a in range(k):
            m = km_median(times[idx, a], events[idx, a])
            out[b, a] = math.inf if m is None else m
    return out


def _interval(x: np.ndarray, level: float) -> list[float | None]:
    lo = float(np.quantile(x, (1 - level) / 2, method="lower"))
    hi = float(np.quantile(x, (1 + level) / 2, method="higher"))
    return [v if math.isfinite(v) else None for v in (lo, hi)]


def _months(x: float | None) -> float | None:
    return None if x is None else x / DAYS_PER_MONTH


def analyse(
    outcomes: Sequence[PatientOutcome],
    arms: Sequence[str],
    *,
    seed: int = 0,
    draws: int = BOOTSTRAP,
) -> tuple[dict[str, Any], dict[str, KMCurve]]:
    """(JSON-able summary, KM curve per arm) of stored outcomes; times in days in the curves,
    months in the summary."""
    if len(outcomes) < 2:
        raise InputError(
            f"{len(outcomes)} patient(s) stored: too few to analyse", "run the trial first"
        )
    times = np.array([[o.arms[a].day for a in arms] for o in outcomes])
    events = np.array([[o.arms[a].progressed for a in arms] for o in outcomes])
    boots = bootstrap_medians(times, events, seed=seed, draws=draws)
    curves: dict[str, KMCurve] = {}
    summary_arms: dict[str, Any] = {}
    for j, arm in enumerate(arms):
        curve = km_with_bands(times[:, j], events[:, j])
        curves[arm] = curve
        med = km_median(times[:, j], events[:, j])
        b = boots[:, j] / DAYS_PER_MONTH
        row: dict[str, Any] = {
            "median_pfs_months": _months(med),
            "median_pfs_months_90ci": _interval(b, 0.90),
            "median_pfs_months_95ci": _interval(b, 0.95),
            "progressed": int(events[:, j].sum()),
            "vanished_within_4_weeks": float(np.mean([o.arms[arm].vanished_4w for o in outcomes])),
        }
        for months in (6, 12):
            s, lo, hi = curve.at(months * DAYS_PER_MONTH)
            row[f"pfs_{months}_months"] = s
            row[f"pfs_{months}_months_95ci"] = [lo, hi]
        summary_arms[arm] = row
    ratios: dict[str, Any] = {}
    ref = len(arms) - 1
    for j, arm in enumerate(arms[:-1]):
        key = f"{arm} vs {arms[ref]}"
        ev = np.r_[events[:, j], events[:, ref]]
        if not ev.any():
            ratios[key] = {"hazard_ratio": None, "hazard_ratio_95ci": None}
            continue
        hr, ci = cox_hazard_ratio(
            np.r_[times[:, j], times[:, ref]], ev, np.r_[np.ones(len(times)), np.zeros(len(times))]
        )
        both = np.isfinite(boots[:, j]) & np.isfinite(boots[:, ref])  # both medians reached
        diff = (boots[both, j] - boots[both, ref]) / DAYS_PER_MONTH
        m_j, m_r = (
            summary_arms[arm]["median_pfs_months"],
            summary_arms[arms[ref]]["median_pfs_months"],
        )
        ratios[key] = {
            "hazard_ratio": hr,
            "hazard_ratio_95ci": ci,
            "median_pfs_gain_months": None if m_j is None or m_r is None else m_j - m_r,
            "median_pfs_gain_months_90ci": _interval(diff, 0.90) if diff.size else None,
        }
    summary = {
        "synthetic": True,
        "n": len(outcomes),
        "arms": summary_arms,
        "hazard_ratios": ratios,
        "reference_arm": arms[ref],
        "bootstrap_draws": int(boots.shape[0]),
    }
    return summary, curves
