"""The treatment plan a clinical course implies: the given radiotherapy and temozolomide as the
growth model's :class:`~braintwin.types.TreatmentPlan` (data, not a regimen name).

Radiotherapy records say how much (total dose, number of fractions) and when (start, maybe
end), not on which days each fraction fell. The fractions are placed on consecutive weekdays
(Monday-Friday) from the start, as departments deliver them; build the plan from the *real*
dates (weekdays are a property of the real calendar) and shift its ``start`` afterwards.
Temozolomide courses keep their dates and doses; the kill rate scales linearly with the dose
(:func:`braintwin.growth.treatment.tmz_kill_rate`).
"""

from __future__ import annotations

import datetime as dt

from braintwin.clinical.records import ClinicalCourse, RadiotherapyCourse
from braintwin.growth.treatment import tmz_kill_rate
from braintwin.plan.regimens import RadiotherapySpec
from braintwin.types.records import ChemoCourse, Fraction, Radiotherapy, TreatmentPlan

__all__ = ["PLAN_NAME", "course_plan", "weekday_dates"]

PLAN_NAME = "clinical-record"
# The standard CTV margin of the plan library (docs/plans.md): the record says nothing of it.
_MARGIN_MM = float(RadiotherapySpec.model_fields["margin_mm"].default)


def weekday_dates(start: dt.date, n: int) -> list[dt.date]:
    """The first ``n`` weekdays (Mon-Fri) on or after ``start``."""
    out: list[dt.date] = []
    day = start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def _fractions(rt: RadiotherapyCourse, day0: dt.date) -> tuple[list[Fraction], str | None]:
    dates = weekday_dates(rt.start, rt.fractions)
    note = None
    if rt.end is not None and dates[-1] != rt.end:
        note = (
            f"radiotherapy from {rt.start}: {rt.fractions} fractions on weekdays end on "
            f"{dates[-1]}, the record says {rt.end} (breaks are not in the record)"
        )
    per = rt.dose_per_fraction_gy
    return [Fraction(day=float((d - day0).days), dose_gy=per) for d in dates], note


def course_plan(course: ClinicalCourse) -> tuple[TreatmentPlan | None, list[str]]:
    """The plan of ``course`` (``None`` without radiotherapy or temozolomide) and notes on
    what had to be assumed. Call it on a course with real dates, then shift the plan."""
    notes: list[str] = []
    starts = [r.start for r in course.radiotherapy] + [t.start for t in course.temozolomide]
    if not starts:
        return None, notes
    day0 = min(starts)
    fractions: list[Fraction] = []
    for rt in sorted(course.radiotherapy, key=lambda r: r.start):
        fx, note = _fractions(rt, day0)
        fractions += fx
        if note:
            notes.append(note)
    days = [f.day for f in fractions]
    if len(set(days)) != len(days):
        notes.append("two radiotherapy courses overlap: fractions on the same day are summed")
        merged: dict[float, float] = {}
        for f in fractions:
            merged[f.day] = merged.get(f.day, 0.0) + f.dose_gy
        fractions = [Fraction(day=d, dose_gy=g) for d, g in sorted(merged.items())]
    chemo = tuple(
        ChemoCourse(
            drug="temozolomide",
            start_day=float((t.start - day0).days),
            end_day=float((t.end - day0).days + 1),  # the record's end day is a dosing day
            kill_rate_per_day=tmz_kill_rate(t.dose_mg_m2),
            dose_mg_m2=t.dose_mg_m2,
        )
        for t in sorted(course.temozolomide, key=lambda t: t.start)
    )
    rt_plan = (
        Radiotherapy(fractions=tuple(fractions), target_margin_mm=_MARGIN_MM) if fractions else None
    )
    plan = TreatmentPlan(name=PLAN_NAME, start=day0, radiotherapy=rt_plan, chemotherapy=chemo)
    return plan, notes
