"""Patients, visits and treatment plans.

``Visit`` and ``Patient`` hold ``Volume``s, so they are plain dataclasses; records that enter
from users (treatment plans) are pydantic models validated at the edge. Times are in days,
doses in Gy, lengths in mm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from braintwin.types.volume import Modality, Volume

__all__ = [
    "ChemoCourse",
    "Fraction",
    "Patient",
    "Radiotherapy",
    "TreatmentPlan",
    "Visit",
]


@dataclass
class Visit:
    """One imaging session of a patient.

    Attributes:
        date: visit date (de-identified: shifted by the patient's secret offset on ingest).
        volumes: MRI volumes by modality, all on one grid after preprocessing.
        segmentation: BraTS label volume on the same grid, if any.
        brain_mask: boolean brain mask on the same grid, if any.
        measurements: region name -> measurement dict (volumes in mL, diameters in mm, …).
        extras: further named volumes on the visit grid, e.g. ``"reference_seg"`` (an expert
            label supplied with the images), ``"uncertainty"``, ``"density"``.
        meta: provenance (source kind, preprocessing steps, transforms), never identifiers.
    """

    date: dt.date
    volumes: dict[Modality, Volume] = field(default_factory=dict)
    segmentation: Volume | None = None
    brain_mask: Volume | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Volume] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(m for m in Modality.mri() if m in self.volumes) + tuple(
            m for m in self.volumes if m not in Modality.mri()
        )

    @property
    def reference(self) -> Volume:
        """The volume defining the visit's grid (T1ce when present, else the first one)."""
        if Modality.T1CE in self.volumes:
            return self.volumes[Modality.T1CE]
        return next(iter(self.volumes.values()))


@dataclass
class Patient:
    """A pseudonymous patient and their visits in date order."""

    id: str
    visits: list[Visit] = field(default_factory=list)

    def sorted_visits(self) -> list[Visit]:
        return sorted(self.visits, key=lambda v: v.date)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fraction(_Record):
    """One radiotherapy fraction: day after plan start (days) and prescribed dose (Gy)."""

    day: float = Field(ge=0)
    dose_gy: float = Field(gt=0, le=30)


class Radiotherapy(_Record):
    """Fractionated radiotherapy with linear-quadratic cell kill.

    Attributes:
        fractions: the delivered fractions.
        target_margin_mm: clinical target volume margin around the tumour (mm); the dose is
            uniform inside it unless a dose map is supplied to the solver.
        alpha_beta_gy: alpha/beta ratio of the tumour (Gy); ~10 Gy for glioma.
    """

    fractions: tuple[Fraction, ...]
    target_margin_mm: float = Field(default=20.0, ge=0, le=60)
    alpha_beta_gy: float = Field(default=10.0, gt=0)

    @property
    def total_dose_gy(self) -> float:
        return float(sum(f.dose_gy for f in self.fractions))


class ChemoCourse(_Record):
    """A chemotherapy course as a constant kill rate (1/day) between two days after plan start."""

    drug: str = "temozolomide"
    start_day: float = Field(ge=0)
    end_day: float = Field(gt=0)
    kill_rate_per_day: float = Field(ge=0, le=1)
    dose_mg_m2: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ChemoCourse:
        if self.end_day <= self.start_day:
            raise ValueError("chemotherapy end_day must be after start_day")
        return self


class TreatmentPlan(_Record):
    """Treatment as data: dated radiotherapy fractions and chemotherapy courses.

    ``start`` anchors the day offsets; ``TreatmentPlan(name="none", start=...)`` is no treatment.
    """

    name: str = "none"
    start: dt.date
    radiotherapy: Radiotherapy | None = None
    chemotherapy: tuple[ChemoCourse, ...] = ()

    def day_of(self, date: dt.date) -> float:
        """Days from plan start to ``date`` (negative before the start)."""
        return float((date - self.start).days)

    def fractions_between(self, a: dt.date, b: dt.date) -> tuple[Fraction, ...]:
        """Radiotherapy fractions delivered on dates in ``[a, b)`` (the single definition:
        calibration asks it whether α is identifiable, forecasting whether α is needed)."""
        if self.radiotherapy is None:
            return ()
        lo, hi = self.day_of(a), self.day_of(b)
        return tuple(f for f in self.radiotherapy.fractions if lo <= f.day < hi)

    def has_radiotherapy_between(self, a: dt.date, b: dt.date) -> bool:
        """Whether any fraction falls on a date in ``[a, b)``."""
        return bool(self.fractions_between(a, b))
