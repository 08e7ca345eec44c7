"""Treatments as data: plan factories, linear-quadratic survival and radiotherapy dose maps.

Radiotherapy is an instantaneous linear-quadratic hit at each fraction: a fraction
``1 - exp(-alpha d - beta d²)`` of the viable cells is lethally damaged, with
``beta = alpha / (alpha/beta)`` (Fowler 1989; Rockne et al. 2010 for glioma: alpha
0.02-0.04 /Gy, alpha/beta = 10 Gy). Chemotherapy (temozolomide) is a kill rate ``k`` (1/day)
while a course is active. Damaged cells are cleared over weeks (``GrowthParameters``,
``simulate``), which is what imaging follows.

The Stupp regimen (Stupp et al. 2005, NEJM 352:987): 60 Gy in 30 fractions of 2 Gy, five a
week, with concomitant temozolomide 75 mg/m² every day of radiotherapy, then after a 4-week
break six adjuvant cycles of temozolomide for 5 days every 28 days (150 mg/m² in cycle 1,
200 mg/m² from cycle 2).
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
    "adjuvant_temozolomide",
    "chemo_kill_rate",
    "hypofractionated",
    "lq_survival",
    "no_treatment",
    "plan_by_name",
    "plan_events",
    "radiotherapy_alone",
    "standard_stupp",
    "target_dose_map",
    "tmz_kill_rate",
    "weekday_fractions",
]

# Temozolomide kill rate (1/day) at 75 mg/m²/day. NOT a literature value: an assumed order of
# magnitude (about 1 % of the cells per day), to be calibrated per patient through
# GrowthParameters.chemo_sensitivity. Other doses scale it linearly: temozolomide exposure
# (plasma AUC) is proportional to the dose (linear pharmacokinetics; Baker et al. 1999, Clin
# Cancer Res 5:309), and first-order cell kill is proportional to exposure.
TMZ_KILL_RATE_PER_DAY = 0.01
TMZ_REFERENCE_DOSE_MG_M2 = 75.0
ADJUVANT_BREAK_DAYS = 28.0  # after the last radiotherapy day
ADJUVANT_CYCLES = (
    (150.0, 5.0),
    (200.0, 5.0),
    (200.0, 5.0),
    (200.0, 5.0),
    (200.0, 5.0),
    (200.0, 5.0),
)


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


def tmz_kill_rate(dose_mg_m2: float, per_75: float = TMZ_KILL_RATE_PER_DAY) -> float:
    """Daily kill rate (1/day) of temozolomide at ``dose_mg_m2`` (linear in the dose)."""
    return per_75 * dose_mg_m2 / TMZ_REFERENCE_DOSE_MG_M2


def adjuvant_temozolomide(
    first_day: float, tmz_kill_rate_per_day: float = TMZ_KILL_RATE_PER_DAY
) -> tuple[ChemoCourse, ...]:
    """The six adjuvant cycles (5 days every 28; 150 then 200 mg/m²) from ``first_day``."""
    return tuple(
        ChemoCourse(
            drug="temozolomide",
            start_day=first_day + 28.0 * i,
            end_day=first_day + 28.0 * i + days,
            kill_rate_per_day=tmz_kill_rate(dose, tmz_kill_rate_per_day),
            dose_mg_m2=dose,
        )
        for i, (dose, days) in enumerate(ADJUVANT_CYCLES)
    )


def _rt_with_tmz(
    name: str,
    start: dt.date,
    n_fractions: int,
    dose_gy: float,
    margin_mm: float,
    tmz_kill_rate_per_day: float,
    adjuvant: bool,
) -> TreatmentPlan:
    """Weekday radiotherapy with concomitant temozolomide 75 mg/m²/day on every RT day and
    (``adjuvant``) the six adjuvant cycles 4 weeks after the last fraction."""
    fractions = weekday_fractions(n_fractions, dose_gy)
    end = fractions[-1].day + 1.0
    courses: tuple[ChemoCourse, ...] = ()
    if tmz_kill_rate_per_day > 0:
        courses = (
            ChemoCourse(
                drug="temozolomide",
                start_day=0.0,
                end_day=end,
                kill_rate_per_day=tmz_kill_rate_per_day,
                dose_mg_m2=TMZ_REFERENCE_DOSE_MG_M2,
            ),
        )
        if adjuvant:
            courses += adjuvant_temozolomide(end + ADJUVANT_BREAK_DAYS, tmz_kill_rate_per_day)
    return TreatmentPlan(
        name=name,
        start=start,
        radiotherapy=Radiotherapy(fractions=fractions, target_margin_mm=margin_mm),
        chemotherapy=courses,
    )


def standard_stupp(
    start: dt.date,
    *,
    margin_mm: float = 20.0,
    tmz_kill_rate_per_day: float = TMZ_KILL_RATE_PER_DAY,
    adjuvant: bool = True,
) -> TreatmentPlan:
    """Stupp protocol: 60 Gy in 30 x 2 Gy fractions, 5 per week (6 weeks), with concomitant
    temozolomide 75 mg/m²/day every day of radiotherapy, then six adjuvant cycles
    (Stupp et al. 2005, NEJM 352:987). ``start`` (a Monday in practice) is day 0."""
    return _rt_with_tmz(
        "stupp-60Gy-30fx", start, 30, 2.0, margin_mm, tmz_kill_rate_per_day, adjuvant
    )


def radiotherapy_alone(start: dt.date, *, margin_mm: float = 20.0) -> TreatmentPlan:
    """The control arm of Stupp et al. 2005: 60 Gy in 30 x 2 Gy fractions, no temozolomide."""
    return _rt_with_tmz("rt-60Gy-30fx", start, 30, 2.0, margin_mm, 0.0, False)


def hypofractionated(
    start: dt.date,
    *,
    margin_mm: float = 20.0,
    tmz_kill_rate_per_day: float = TMZ_KILL_RATE_PER_DAY,
    adjuvant: bool = True,
) -> TreatmentPlan:
    """Hypofractionated radiotherapy: 40 Gy in 15 x 2.67 Gy fractions over 3 weeks with
    concomitant and adjuvant temozolomide (Roa et al. 2004 JCO; Perry et al. 2017 NEJM,
    elderly patients)."""
    return _rt_with_tmz(
        "hypo-40Gy-15fx", start, 15, 40.0 / 15.0, margin_mm, tmz_kill_rate_per_day, adjuvant
    )


PLANS: dict[str, Callable[[dt.date], TreatmentPlan]] = {
    "stupp": standard_stupp,
    "rt": radiotherapy_alone,
    "hypo": hypofractionated,
    "none": no_treatment,
}


def plan_by_name(name: str, start: dt.date) -> TreatmentPlan:
    """A standard plan by name ("stupp", "rt", "hypo", "none") starting on ``start``."""
    try:
        return PLANS[name.lower()](start)
    except KeyError:
        raise ModelError(f"unknown plan {name!r}", f"choose one of {', '.join(PLANS)}") from None


def plan_events(
    plan: TreatmentPlan | None, offset: float, t_end: float
) -> tuple[list[tuple[float, float]], list[float], float]:
    """What a simulation from plan day ``offset`` to ``t_end`` days later must stop at:
    the fractions ``(day, Gy)`` in ``[0, t_end]`` (sorted; days from the simulation start),
    every chemotherapy start/end day, and the radiotherapy target margin (mm; 0 without RT)."""
    fractions: list[tuple[float, float]] = []
    edges: list[float] = []
    margin = 0.0
    if plan is not None:
        if plan.radiotherapy is not None:
            margin = plan.radiotherapy.target_margin_mm
            fractions = sorted(
                (f.day - offset, f.dose_gy)
                for f in plan.radiotherapy.fractions
                if 0 <= f.day - offset <= t_end
            )
        for course in plan.chemotherapy:
            edges += [course.start_day - offset, course.end_day - offset]
    return fractions, edges, margin


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
