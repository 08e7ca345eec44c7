"""Treatments as data: plan factories, linear-quadratic survival and radiotherapy dose maps.

Radiotherapy is an instantaneous linear-quadratic kill at each fraction,
``u <- u * exp(-alpha d - beta d²)`` with ``beta = alpha / (alpha/beta)`` (Fowler 1989;
Rockne et al. 2010 for glioma). Chemotherapy (temozolomide) is a kill rate ``k`` (1/day)
subtracted from proliferation while a course is active.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from braintwin.errors import ModelError
from braintwin.types.records import ChemoCourse, Fraction, Radiotherapy, TreatmentPlan

__all__ = [
    "PLANS",
    "TMZ_KILL_RATE_PER_DAY",
    "chemo_kill_rate",
    "hypofractionated",
    "lq_survival",
    "no_treatment",
    "plan_by_name",
    "standard_stupp",
    "target_dose_map",
    "weekday_fractions",
]

# Temozolomide kill rate (1/day) during concomitant TMZ. Not a literature value: an assumed
# order of magnitude (a few % per day) to be calibrated through GrowthParameters.chemo_sensitivity.
TMZ_KILL_RATE_PER_DAY = 0.01


def lq_survival(dose_gy: np.ndarray | float, alpha: float, beta: float) -> np.ndarray | float:
    """Surviving fraction exp(-alpha d - beta d²) for a dose d (Gy, scalar or array)."""
    d = np.asarray(dose_gy, dtype=np.float64)
    if np.any(d < 0):
        raise ModelError("negative radiotherapy dose", "doses are in Gy and must be >= 0")
    s = np.exp(-alpha * d - beta * d * d)
    return float(s) if np.ndim(s) == 0 else s


def weekday_fractions(
    n: int, dose_gy: float, *, per_week: int = 5, first_day: float = 0.0
) -> tuple[Fraction, ...]:
    """``n`` fractions of ``dose_gy`` Gy, ``per_week`` consecutive days a week from ``first_day``."""
    if n < 1 or not 1 <= per_week <= 7:
        raise ModelError(f"bad fractionation: {n} fractions, {per_week} per week")
    days = [first_day + 7 * (i // per_week) + (i % per_week) for i in range(n)]
    return tuple(Fraction(day=float(d), dose_gy=dose_gy) for d in days)


def no_treatment(start: dt.date) -> TreatmentPlan:
    """The empty plan (natural growth)."""
    return TreatmentPlan(name="none", start=start)


def _rt_with_tmz(
    name: str,
    start: dt.date,
    n_fractions: int,
    dose_gy: float,
    margin_mm: float,
    tmz_kill_rate_per_day: float,
) -> TreatmentPlan:
    """Weekday radiotherapy with concomitant temozolomide 75 mg/m²/day on every RT day."""
    fractions = weekday_fractions(n_fractions, dose_gy)
    tmz = ChemoCourse(
        drug="temozolomide",
        start_day=0.0,
        end_day=fractions[-1].day + 1.0,
        kill_rate_per_day=tmz_kill_rate_per_day,
        dose_mg_m2=75.0,
    )
    return TreatmentPlan(
        name=name,
        start=start,
        radiotherapy=Radiotherapy(fractions=fractions, target_margin_mm=margin_mm),
        chemotherapy=(tmz,),
    )


def standard_stupp(
    start: dt.date,
    *,
    margin_mm: float = 20.0,
    tmz_kill_rate_per_day: float = TMZ_KILL_RATE_PER_DAY,
) -> TreatmentPlan:
    """Stupp protocol: 60 Gy in 30 x 2 Gy fractions, 5 per week (6 weeks), with concomitant
    temozolomide 75 mg/m²/day every day of radiotherapy (Stupp et al. 2005, NEJM 352:987).

    ``start`` (a Monday in practice) is day 0. The adjuvant TMZ cycles are not included.
    """
    return _rt_with_tmz("stupp-60Gy-30fx", start, 30, 2.0, margin_mm, tmz_kill_rate_per_day)


def hypofractionated(
    start: dt.date,
    *,
    margin_mm: float = 20.0,
    tmz_kill_rate_per_day: float = TMZ_KILL_RATE_PER_DAY,
) -> TreatmentPlan:
    """Hypofractionated radiotherapy: 40 Gy in 15 x 2.67 Gy fractions over 3 weeks with
    concomitant temozolomide (Roa et al. 2004 JCO; Perry et al. 2017 NEJM, elderly patients)."""
    return _rt_with_tmz("hypo-40Gy-15fx", start, 15, 40.0 / 15.0, margin_mm, tmz_kill_rate_per_day)


PLANS: dict[str, Callable[[dt.date], TreatmentPlan]] = {
    "stupp": standard_stupp,
    "hypo": hypofractionated,
    "none": no_treatment,
}


def plan_by_name(name: str, start: dt.date) -> TreatmentPlan:
    """A standard plan by name ("stupp", "hypo", "none") starting on ``start``."""
    try:
        return PLANS[name.lower()](start)
    except KeyError:
        raise ModelError(f"unknown plan {name!r}", f"choose one of {', '.join(PLANS)}") from None


def chemo_kill_rate(courses: Sequence[ChemoCourse], day: float) -> float:
    """Total chemotherapy kill rate (1/day) active at plan ``day`` (courses are [start, end))."""
    return float(sum(c.kill_rate_per_day for c in courses if c.start_day <= day < c.end_day))


def target_dose_map(
    tumour: np.ndarray,
    brain: np.ndarray,
    spacing_mm: Sequence[float],
    margin_mm: float,
) -> np.ndarray:
    """Relative dose map (1 inside the target, 0 outside; float32, shape of ``tumour``).

    Target = ``tumour`` dilated by ``margin_mm`` (Euclidean, anisotropic spacing respected),
    intersected with ``brain``. The distance transform runs only on the tumour's bounding box
    grown by the margin, so it stays cheap on 1 mm grids.
    """
    tumour = np.asarray(tumour, dtype=bool)
    if tumour.shape != brain.shape:
        raise ModelError(f"tumour mask {tumour.shape} and brain {brain.shape} grids differ")
    out = np.zeros(tumour.shape, dtype=np.float32)
    if not tumour.any():
        return out
    idx = np.nonzero(tumour)
    pad = [int(np.ceil(margin_mm / s)) + 1 for s in spacing_mm]
    lo = [max(0, int(i.min()) - p) for i, p in zip(idx, pad, strict=True)]
    hi = [min(n, int(i.max()) + p + 1) for i, n, p in zip(idx, tumour.shape, pad, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dist = ndimage.distance_transform_edt(~tumour[box], sampling=tuple(spacing_mm))
    out[box] = ((dist <= margin_mm) & brain[box]).astype(np.float32)
    return out
