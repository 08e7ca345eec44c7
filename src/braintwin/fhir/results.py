"""Typed inputs of a FHIR export: what the twin has measured and predicted, with provenance.

The twin-level module (:mod:`braintwin.twin.fhir_export`) fills these from the store; the
builders (:mod:`braintwin.fhir.results_out`, :mod:`braintwin.fhir.writer`) turn them into FHIR
resources. Dates are as they should appear in the bundle (shifted, or real with
``--identified``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = [
    "ExportInput",
    "ForecastResult",
    "ModelInfo",
    "PlanResult",
    "VisitResult",
]


@dataclass(frozen=True)
class ModelInfo:
    """One piece of software that produced a result: name, version, weights digest."""

    key: str  # "segmentation", "classifier", "growth-model"
    name: str
    version: str
    weights_sha256: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class VisitResult:
    """One visit's measurements, response and tumour type."""

    date: dt.date
    volumes_ml: dict[str, float]  # region (WT/TC/ET) -> mL
    response: str | None = None  # RANO-style category (CR/PR/SD/PD/NE)
    response_note: str = ""
    tumour_type: str | None = None
    tumour_probabilities: dict[str, float] = field(default_factory=dict)
    study_uid: str | None = None  # the (remapped) StudyInstanceUID kept at ingest, if any
    models: tuple[ModelInfo, ...] = ()


@dataclass(frozen=True)
class ForecastResult:
    """A stored forecast: volume bands at its target date and the time to progression."""

    made_on: dt.date  # the last visit it starts from
    target: dt.date
    bands_ml: dict[str, dict[str, float]]  # compartment -> {"q05": …, "q50": …, …}
    ttp_median_days: float | None
    p_progression: float | None
    plan_name: str
    source: str
    models: tuple[ModelInfo, ...] = ()


@dataclass(frozen=True)
class PlanResult:
    """One plan's row of a stored plan comparison."""

    name: str
    title: str
    total_dose_gy: float
    n_fractions: int
    temozolomide: bool
    ttp_median_days: float | None
    ttp_q05_days: float | None
    ttp_q95_days: float | None
    p_pfs_6m: float | None
    p_pfs_12m: float | None


@dataclass
class ExportInput:
    """Everything a bundle carries about one patient."""

    patient_system: str
    patient_value: str
    dates_shifted: bool
    visits: list[VisitResult]
    forecast: ForecastResult | None = None
    plans: list[PlanResult] = field(default_factory=list)
    plans_start: dt.date | None = None
    plans_models: tuple[ModelInfo, ...] = ()
    software_version: str = ""
