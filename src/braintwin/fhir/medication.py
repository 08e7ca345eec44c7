"""Temozolomide from MedicationAdministration and MedicationStatement resources.

Doses must be body-surface normalised (UCUM ``mg/m2``), as protocols prescribe them: an
absolute dose in mg cannot be turned into the model's dose without the body surface area, which
braintwin does not store, so it is refused rather than guessed.

- MedicationAdministration: one course per resource, from ``effectiveDateTime`` (one day) or
  ``effectivePeriod`` (start to end, every day), dose ``dosage.dose``.
- MedicationStatement: ``effectivePeriod`` and ``dosage[0]``: dose ``doseAndRate[0].doseQuantity``;
  a cyclic schedule as ``timing.repeat`` with ``duration`` days on (``durationUnit`` d) every
  ``period`` days (``periodUnit`` d) for ``count`` cycles (else until the period's end) — e.g.
  days 1-5 every 28 days x 6 — becomes one course per cycle; without such a repeat it is taken
  every day of the period.

The phase (concomitant or adjuvant) is not read from the resource: a course that overlaps a
radiotherapy course is concomitant, any other adjuvant (:func:`assign_phases`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from braintwin.clinical.plan import weekday_dates
from braintwin.clinical.records import Code, RadiotherapyCourse, TemozolomideCourse
from braintwin.errors import InputError
from braintwin.fhir.bundle import Entry, as_date, codes_of
from braintwin.fhir.codes import UCUM

__all__ = ["DoseCourse", "administration_courses", "assign_phases", "statement_courses"]

_MG_M2 = {"mg/m2", "mg/m^2", "mg/m²"}
_HINT = "give temozolomide doses in mg/m2 (UCUM code mg/m2), see docs/fhir.md"


@dataclass(frozen=True)
class DoseCourse:
    """A course before its phase is known."""

    start: dt.date
    end: dt.date
    dose_mg_m2: float
    codes: tuple[Code, ...]


def medication_codes(res: Any, index: dict[str, Entry]) -> tuple[Code, ...]:
    """The codes of ``medication[x]``: the concept itself, or the referenced Medication's."""
    if getattr(res, "medicationCodeableConcept", None) is not None:
        return codes_of(res.medicationCodeableConcept)
    ref = getattr(res, "medicationReference", None)
    target = index.get(str(ref.reference)) if ref is not None and ref.reference else None
    if target is not None and target.type == "Medication":
        return codes_of(target.resource.code)
    return ()


def _dose(quantity: Any, where: str, field: str) -> float:
    if quantity is None or quantity.value is None:
        raise InputError(f"{where}: no temozolomide dose ({field})", _HINT)
    unit = str(quantity.code or quantity.unit or "")
    if quantity.system not in (None, UCUM) or unit not in _MG_M2:
        raise InputError(
            f"{where} field {field}: dose unit {unit or 'missing'!r} is not mg/m2 "
            "(the body surface area is not stored, so an absolute dose cannot be converted)",
            _HINT,
        )
    return float(quantity.value)


def _period(res: Any, entry: Entry, need_end: bool) -> tuple[dt.date, dt.date | None]:
    if getattr(res, "effectiveDateTime", None) is not None:
        day = as_date(res.effectiveDateTime, entry.where, "effectiveDateTime")
        return day, day
    period = getattr(res, "effectivePeriod", None)
    if period is None or period.start is None:
        raise InputError(f"{entry.where}: no effective date or period", "give effectivePeriod")
    start = as_date(period.start, entry.where, "effectivePeriod.start")
    end = None if period.end is None else as_date(period.end, entry.where, "effectivePeriod.end")
    if end is None and need_end:
        raise InputError(
            f"{entry.where}: effectivePeriod has no end", "give the last day the drug was taken"
        )
    return start, end


def administration_courses(entry: Entry, codes: tuple[Code, ...]) -> list[DoseCourse]:
    res = entry.resource
    start, end = _period(res, entry, need_end=True)
    dosage = res.dosage
    dose = _dose(None if dosage is None else dosage.dose, entry.where, "dosage.dose")
    return [DoseCourse(start, end or start, dose, codes)]


def statement_courses(entry: Entry, codes: tuple[Code, ...]) -> list[DoseCourse]:
    res = entry.resource
    dosage = (res.dosage or [None])[0]
    if dosage is None or not dosage.doseAndRate:
        raise InputError(f"{entry.where}: no dosage[0].doseAndRate[0].doseQuantity", _HINT)
    dose = _dose(dosage.doseAndRate[0].doseQuantity, entry.where, "doseQuantity")
    repeat: Any = None if dosage.timing is None else dosage.timing.repeat
    cyclic = (
        repeat is not None
        and repeat.duration is not None
        and repeat.period is not None
        and repeat.durationUnit == "d"
        and repeat.periodUnit == "d"
        and float(repeat.period) > float(repeat.duration)
    )
    start, end = _period(res, entry, need_end=not (cyclic and repeat.count))
    if not cyclic or repeat is None:
        return [DoseCourse(start, end or start, dose, codes)]
    on, every = int(repeat.duration), int(repeat.period)
    courses = []
    k = 0
    while True:
        first = start + dt.timedelta(days=every * k)
        if repeat.count is not None and k >= int(repeat.count):
            break
        if repeat.count is None and end is not None and first > end:
            break
        courses.append(DoseCourse(first, first + dt.timedelta(days=on - 1), dose, codes))
        k += 1
        if k > 60:
            raise InputError(f"{entry.where}: more than 60 cycles", "check timing.repeat.count")
    return courses


def _rt_end(rt: RadiotherapyCourse) -> dt.date:
    return rt.end or weekday_dates(rt.start, rt.fractions)[-1]


def assign_phases(
    courses: list[DoseCourse], radiotherapy: tuple[RadiotherapyCourse, ...]
) -> tuple[TemozolomideCourse, ...]:
    """Concomitant when a course overlaps a radiotherapy course, else adjuvant."""
    out = []
    for c in sorted(courses, key=lambda c: c.start):
        during = any(c.start <= _rt_end(rt) and c.end >= rt.start for rt in radiotherapy)
        out.append(
            TemozolomideCourse(
                start=c.start,
                end=c.end,
                dose_mg_m2=c.dose_mg_m2,
                phase="concomitant" if during else "adjuvant",
                codes=c.codes,
            )
        )
    return tuple(out)
