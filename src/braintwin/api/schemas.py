"""Typed request and response bodies of the REST API (pydantic; the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiTokenCreated",
    "ApiTokenInfo",
    "ApiTokenRequest",
    "AuditVerifyOut",
    "CohortSummary",
    "ErrorOut",
    "ForecastOut",
    "ForecastRequest",
    "JobOut",
    "LoginRequest",
    "MeOut",
    "PatientCreate",
    "PatientCreated",
    "PatientDetail",
    "PatientLookup",
    "PatientOut",
    "TeamAssign",
    "TeamCreate",
    "TokenOut",
    "UserCreate",
    "UserOut",
    "VisitOut",
    "VolumeOut",
]

Name = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
Pseudonym = Field(pattern=r"^BT-[A-Z2-7]{10}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str


class LoginRequest(_Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: dt.datetime


class MeOut(BaseModel):
    name: str
    role: str
    teams: list[str]
    via: str


class ApiTokenRequest(_Strict):
    name: str = Name
    days: int = Field(default=90, ge=1, le=3650)


class ApiTokenCreated(BaseModel):
    id: int
    name: str
    token: str  # shown once; only its hash is stored
    expires_at: dt.datetime | None


class ApiTokenInfo(BaseModel):
    id: int
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked: bool


class PatientCreate(_Strict):
    identifier: str = Field(min_length=1, max_length=128)  # hospital ID; never stored
    team: str = Name


class PatientCreated(BaseModel):
    id: str
    created: bool
    teams: list[str]


class PatientLookup(_Strict):
    identifier: str = Field(min_length=1, max_length=128)


class PatientOut(BaseModel):
    id: str
    n_visits: int
    first_visit: dt.date | None
    last_visit: dt.date | None
    teams: list[str]


class VisitOut(BaseModel):
    date: dt.date  # de-identified (shifted) date
    modalities: list[str]
    volumes: list[str]
    segmentation: str | None
    synthetic: bool
    tumour_type: str | None


class PatientDetail(BaseModel):
    id: str
    teams: list[str]
    visits: list[VisitOut]
    model_stale: bool
    model_stale_reason: str | None
    posteriors: int
    forecasts: int


class VolumeOut(BaseModel):
    name: str
    shape: list[int]
    spacing_mm: list[float]
    modality: str


class ForecastRequest(_Strict):
    days: int = Field(ge=1, le=3650)


class PlanCompareRequest(_Strict):
    """Plans by library name (``GET /plans``) and/or inline plan specs (docs/plans.md)."""

    plans: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._+-]{1,64}$")]] = Field(
        default_factory=list, max_length=20
    )
    custom: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    horizon_days: int = Field(default=730, ge=28, le=3650)
    n_samples: int = Field(default=64, ge=2, le=256)
    target: Literal["margin", "model"] = "margin"
    allow_prior: bool = False


class PlanOptimiseRequest(_Strict):
    objective: Literal["ttp", "dose"] = "ttp"
    risk: Literal["cvar", "mean"] = "cvar"
    reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9._+-]{1,64}$")] = "stupp"
    horizon_days: int = Field(default=730, ge=28, le=3650)
    n_samples: int = Field(default=64, ge=2, le=256)
    search_samples: int = Field(default=12, ge=2, le=64)
    maxiter: int = Field(default=12, ge=1, le=100)
    allow_prior: bool = False


class RegimenOut(BaseModel):
    name: str
    title: str
    reference: str
    total_dose_gy: float
    fractions: int
    temozolomide: bool


class PlanResultOut(BaseModel):
    """A stored plan comparison or optimisation (the twin's artifact, as JSON)."""

    id: int
    kind: Literal["plan_comparison", "plan_optimisation"]
    from_visit: dt.date | None
    created_at: dt.datetime
    result: dict[str, Any]


class ForecastOut(BaseModel):
    id: int
    from_visit: dt.date | None
    created_at: dt.datetime
    target_date: str | None
    plan: str | None
    volumes: list[str]
    summary: dict[str, Any]


class JobOut(BaseModel):
    id: int
    kind: str
    patient_id: str | None
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    message: str
    attempts: int
    result: dict[str, Any] | None
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class CohortSummary(BaseModel):
    patients: int
    visits: int
    segmented_visits: int
    wt_volume_ml: dict[str, float | None]  # n, median, quartiles over latest visits
    tumour_types: dict[str, int]


class UserCreate(_Strict):
    name: str = Name
    role: Literal["admin", "clinician", "researcher"]
    password: str = Field(min_length=12, max_length=1024)
    teams: list[str] = Field(default_factory=list, max_length=32)


class UserOut(BaseModel):
    name: str
    role: str
    active: bool
    teams: list[str]


class TeamCreate(_Strict):
    name: str = Name


class TeamAssign(_Strict):
    team: str = Name


class AuditVerifyOut(BaseModel):
    ok: bool
    records: int
    head: str
    first_bad_id: int | None
    problem: str | None
