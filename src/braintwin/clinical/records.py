"""Typed records of a patient's clinical course, as read from the hospital record.

Dates are calendar days (a FHIR dateTime keeps its date). A course read from a bundle carries
real dates; the twin stores it shifted by the patient's secret offset (:meth:`shifted`), like
every other date it keeps. Codes are kept exactly as given (system, code, display); a record
whose code braintwin does not recognise is kept with ``recognised=False`` and a flag, never
guessed into something it knows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from braintwin.plan.regimens import FRACTION_DOSE_RANGE_GY, MAX_TOTAL_DOSE_GY

__all__ = [
    "ClinicalCourse",
    "ClinicalObservation",
    "Code",
    "Diagnosis",
    "OtherRecord",
    "RadiotherapyCourse",
    "Resection",
    "TemozolomideCourse",
]

R = TypeVar("R", bound=BaseModel)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Record):
    """One coding (FHIR ``Coding``): terminology URL, code and its display text."""

    system: str = ""
    code: str = ""
    display: str = ""

    def label(self) -> str:
        return self.display or f"{self.system.rsplit('/', 1)[-1]} {self.code}".strip()


class Diagnosis(_Record):
    """A diagnosis (FHIR Condition) with its onset or recorded date."""

    date: dt.date
    codes: tuple[Code, ...] = ()
    text: str = ""
    recognised: bool = True


class Resection(_Record):
    """A tumour resection (FHIR Procedure)."""

    date: dt.date
    codes: tuple[Code, ...] = ()
    text: str = ""


class RadiotherapyCourse(_Record):
    """A course of external-beam radiotherapy: total dose (Gy) in ``fractions`` fractions."""

    start: dt.date
    end: dt.date | None = None
    total_dose_gy: float = Field(gt=0, le=MAX_TOTAL_DOSE_GY)
    fractions: int = Field(ge=1, le=60)
    codes: tuple[Code, ...] = ()
    text: str = ""

    @model_validator(mode="after")
    def _check(self) -> RadiotherapyCourse:
        lo, hi = FRACTION_DOSE_RANGE_GY
        per = self.total_dose_gy / self.fractions
        if not lo <= per <= hi:
            raise ValueError(f"{per:.3g} Gy per fraction is outside {lo:g}-{hi:g} Gy")
        if self.end is not None and self.end < self.start:
            raise ValueError("the course ends before it starts")
        return self

    @property
    def dose_per_fraction_gy(self) -> float:
        return self.total_dose_gy / self.fractions


class TemozolomideCourse(_Record):
    """Temozolomide taken every day from ``start`` to ``end`` (inclusive) at ``dose_mg_m2``.

    ``phase``: ``"concomitant"`` (during radiotherapy, 75 mg/m² daily in the Stupp protocol) or
    ``"adjuvant"`` (after it, 150-200 mg/m² on days 1-5 of 28-day cycles); a cyclic schedule is
    one course per cycle.
    """

    start: dt.date
    end: dt.date
    dose_mg_m2: float = Field(gt=0, le=300)
    phase: Literal["concomitant", "adjuvant"]
    codes: tuple[Code, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> TemozolomideCourse:
        if self.end < self.start:
            raise ValueError("the course ends before it starts")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


class ClinicalObservation(_Record):
    """A clinical finding: performance status (Karnofsky 0-100, ECOG 0-5), MGMT promoter
    methylation, IDH mutation status, or one braintwin does not recognise (``kind="other"``).

    ``value``: the number (scores) or the coded/text result (``"methylated"``,
    ``"wildtype"``, …); ``value_code`` keeps the coding as given.
    """

    kind: Literal["karnofsky", "ecog", "mgmt", "idh", "other"]
    date: dt.date
    value: float | str | None = None
    unit: str = ""
    value_code: Code | None = None
    codes: tuple[Code, ...] = ()
    text: str = ""
    gene: Code | None = None  # the gene studied, for a genomics-reporting variant assessment


class OtherRecord(_Record):
    """A resource braintwin cannot use (unknown procedure or medication code): kept, flagged."""

    resource_type: str
    date: dt.date | None = None
    codes: tuple[Code, ...] = ()
    text: str = ""


class ClinicalCourse(_Record):
    """Everything one bundle said about the patient's disease and treatment."""

    diagnoses: tuple[Diagnosis, ...] = ()
    resections: tuple[Resection, ...] = ()
    radiotherapy: tuple[RadiotherapyCourse, ...] = ()
    temozolomide: tuple[TemozolomideCourse, ...] = ()
    observations: tuple[ClinicalObservation, ...] = ()
    other: tuple[OtherRecord, ...] = ()
    flags: tuple[str, ...] = ()

    def dates(self) -> list[dt.date]:
        """Every date the course holds (to check them against birth and today)."""
        return sorted(_dates(self))

    def labelled_dates(self) -> list[tuple[str, dt.date]]:
        """Every date with what it dates (``"radiotherapy"``, ``"observations"``, …)."""
        return [
            (name, d)
            for name in type(self).model_fields
            if isinstance(getattr(self, name), tuple)
            for d in _dates(getattr(self, name))
        ]

    def shifted(self, days: int) -> ClinicalCourse:
        """The same course with every date moved by ``days``."""
        return _shift(self, dt.timedelta(days=days))

    def digest(self) -> str:
        """A content hash (re-importing the same course changes nothing)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in type(self).model_fields)


def _dates(value: Any) -> list[dt.date]:
    if isinstance(value, dt.date):
        return [value]
    if isinstance(value, BaseModel):
        return [d for name in type(value).model_fields for d in _dates(getattr(value, name))]
    if isinstance(value, tuple):
        return [d for item in value for d in _dates(item)]
    return []


def _shift(value: Any, delta: dt.timedelta) -> Any:
    if isinstance(value, dt.date):
        return value + delta
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={name: _shift(getattr(value, name), delta) for name in type(value).model_fields}
        )
    if isinstance(value, tuple):
        return tuple(_shift(item, delta) for item in value)
    return value
