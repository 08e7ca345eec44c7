"""Treatment regimens as data: the plan schema, its validation and the shipped library.

A plan file (YAML or JSON; the schema is :class:`PlanSpec`, published in docs/plans.md) says
*what* is given, in clinical terms: radiotherapy phases (number of fractions × dose per
fraction, fractions per week, delivered on calendar weekdays), temozolomide (concomitant daily
dose during radiotherapy, adjuvant cycles of ``cycle_days`` every ``cycle_length_days``) and a
delayed start. :meth:`PlanSpec.to_plan` turns it into the model's ``TreatmentPlan`` (dated
fractions and kill-rate courses) for a start date.

The library (``data/plans/library.yaml``) is validated by the same schema when loaded:
Stupp 60 Gy/30 + TMZ (Stupp et al. 2005), RT alone, 40 Gy/15 + TMZ (Perry et al. 2017),
25 Gy/5 (Roa et al. 2015), 34 Gy/10 (Malmström et al. 2012), 75 Gy/30 dose-escalated + TMZ
(NRG Oncology BN001), adjuvant TMZ alone (as in NOA-08 / the Nordic trial's TMZ arm), Stupp
started 4 weeks late, and no treatment.

Validation (clear one-line errors naming the field): total dose 0 < D <= 80 Gy, every fraction
1-10 Gy, no two fractions less than 6 hours apart (the minimum interval for sublethal-damage
repair in hyperfractionation), concomitant temozolomide only with radiotherapy, temozolomide
without radiotherapy only when the plan says ``temozolomide_alone: true``.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from braintwin.errors import InputError
from braintwin.growth.treatment import TMZ_KILL_RATE_PER_DAY, tmz_kill_rate
from braintwin.packaged import data_path
from braintwin.types.records import ChemoCourse, Fraction, Radiotherapy, TreatmentPlan

__all__ = [
    "FRACTION_DOSE_RANGE_GY",
    "MAX_TOTAL_DOSE_GY",
    "MIN_FRACTION_GAP_DAYS",
    "PlanSpec",
    "RTPhase",
    "RadiotherapySpec",
    "TemozolomideSpec",
    "library",
    "load_plan_file",
    "parse_plan_spec",
    "regimen_plan",
    "resolve_plan",
]

MAX_TOTAL_DOSE_GY = 80.0
FRACTION_DOSE_RANGE_GY = (1.0, 10.0)
MIN_FRACTION_GAP_DAYS = 0.25  # 6 hours
MAX_PLAN_FILE_BYTES = 1_000_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RTPhase(_Spec):
    """Consecutive fractions of one size."""

    fractions: int = Field(ge=1, le=60, description="number of fractions")
    dose_per_fraction_gy: float = Field(description="Gy per fraction (1-10)")


class ExplicitFraction(_Spec):
    day: float = Field(ge=0, description="days after the radiotherapy start")
    dose_gy: float = Field(description="Gy (1-10)")


class RadiotherapySpec(_Spec):
    """Radiotherapy as phases on weekdays, or as an explicit list of fractions."""

    phases: tuple[RTPhase, ...] = ()
    fractions_per_week: int = Field(default=5, ge=1, le=7)
    weekends: bool = Field(
        default=False, description="treat on Saturdays and Sundays too (else weekdays only)"
    )
    explicit: tuple[ExplicitFraction, ...] = Field(
        default=(), description="fractions by day instead of phases"
    )
    margin_mm: float = Field(
        default=15.0, ge=0, le=60, description="CTV margin around the visible tumour (mm)"
    )
    alpha_beta_gy: float = Field(default=10.0, gt=0, description="tumour alpha/beta (Gy)")

    @model_validator(mode="after")
    def _check(self) -> RadiotherapySpec:
        if bool(self.phases) == bool(self.explicit):
            raise ValueError("give radiotherapy either as 'phases' or as 'explicit' fractions")
        lo, hi = FRACTION_DOSE_RANGE_GY
        doses = [p.dose_per_fraction_gy for p in self.phases] + [f.dose_gy for f in self.explicit]
        for d in doses:
            if not lo <= d <= hi:
                raise ValueError(f"fraction size {d:g} Gy is outside the allowed {lo:g}-{hi:g} Gy")
        total = self.total_dose_gy
        if not 0 < total <= MAX_TOTAL_DOSE_GY:
            raise ValueError(f"total dose {total:g} Gy is outside 0-{MAX_TOTAL_DOSE_GY:g} Gy")
        days = sorted(f.day for f in self.explicit)
        for a, b in itertools.pairwise(days):
            if b - a < MIN_FRACTION_GAP_DAYS:
                raise ValueError(
                    f"fractions on days {a:g} and {b:g} overlap (less than 6 hours apart)"
                )
        return self

    @property
    def total_dose_gy(self) -> float:
        return float(
            sum(p.fractions * p.dose_per_fraction_gy for p in self.phases)
            + sum(f.dose_gy for f in self.explicit)
        )

    @property
    def n_fractions(self) -> int:
        return sum(p.fractions for p in self.phases) + len(self.explicit)

    def fractions(self, start: dt.date, first_day: float) -> tuple[Fraction, ...]:
        """Dated fractions (days after the plan start) for a course starting on ``first_day``."""
        if self.explicit:
            return tuple(
                Fraction(day=first_day + f.day, dose_gy=f.dose_gy)
                for f in sorted(self.explicit, key=lambda f: f.day)
            )
        doses = [p.dose_per_fraction_gy for p in self.phases for _ in range(p.fractions)]
        out: list[Fraction] = []
        day = first_day
        week_start = first_day
        in_week = 0
        while len(out) < len(doses):
            if day - week_start >= 7:
                week_start, in_week = day, 0
            weekday = (start + dt.timedelta(days=int(day))).weekday()
            if (self.weekends or weekday < 5) and in_week < self.fractions_per_week:
                out.append(Fraction(day=float(day), dose_gy=doses[len(out)]))
                in_week += 1
            day += 1.0
        return tuple(out)


class TemozolomideSpec(_Spec):
    """Temozolomide: daily concomitant dosing during radiotherapy and adjuvant cycles."""

    concomitant: bool = Field(default=False, description="75 mg/m² every day of radiotherapy")
    concomitant_dose_mg_m2: float = Field(default=75.0, gt=0, le=200)
    adjuvant_cycles: int = Field(default=0, ge=0, le=12)
    adjuvant_first_dose_mg_m2: float = Field(default=150.0, gt=0, le=300)
    adjuvant_dose_mg_m2: float = Field(default=200.0, gt=0, le=300)
    cycle_days: int = Field(default=5, ge=1, le=28, description="dosing days per cycle")
    cycle_length_days: int = Field(default=28, ge=7, le=56)
    adjuvant_break_days: float = Field(
        default=28.0, ge=0, le=180, description="days from the end of radiotherapy"
    )

    @model_validator(mode="after")
    def _check(self) -> TemozolomideSpec:
        if self.cycle_days > self.cycle_length_days:
            raise ValueError("a temozolomide cycle cannot dose more days than it lasts")
        return self


class PlanSpec(_Spec):
    """A treatment plan in clinical terms (the plan-file schema)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._+-]+$")
    title: str = ""
    reference: str = ""
    delay_days: float = Field(default=0.0, ge=0, le=365, description="start after plan start")
    radiotherapy: RadiotherapySpec | None = None
    temozolomide: TemozolomideSpec | None = None
    temozolomide_alone: bool = Field(
        default=False, description="allow temozolomide without radiotherapy"
    )

    @model_validator(mode="after")
    def _check(self) -> PlanSpec:
        tmz = self.temozolomide
        if tmz is not None and self.radiotherapy is None:
            if tmz.concomitant:
                raise ValueError("concomitant temozolomide needs radiotherapy")
            if tmz.adjuvant_cycles and not self.temozolomide_alone:
                raise ValueError(
                    "temozolomide without radiotherapy: set temozolomide_alone: true if meant"
                )
        return self

    @property
    def total_dose_gy(self) -> float:
        return 0.0 if self.radiotherapy is None else self.radiotherapy.total_dose_gy

    def to_plan(
        self, start: dt.date, *, tmz_kill_rate_per_day: float = TMZ_KILL_RATE_PER_DAY
    ) -> TreatmentPlan:
        """The model's plan: fractions and kill-rate courses dated from ``start`` (day 0)."""
        rt = None
        courses: list[ChemoCourse] = []
        end = self.delay_days
        if self.radiotherapy is not None:
            fx = self.radiotherapy.fractions(start, self.delay_days)
            end = fx[-1].day + 1.0
            rt = Radiotherapy(
                fractions=fx,
                target_margin_mm=self.radiotherapy.margin_mm,
                alpha_beta_gy=self.radiotherapy.alpha_beta_gy,
            )
        tmz = self.temozolomide
        if tmz is not None and tmz_kill_rate_per_day > 0:
            if tmz.concomitant and rt is not None:
                courses.append(
                    ChemoCourse(
                        start_day=self.delay_days,
                        end_day=end,
                        kill_rate_per_day=tmz_kill_rate(
                            tmz.concomitant_dose_mg_m2, tmz_kill_rate_per_day
                        ),
                        dose_mg_m2=tmz.concomitant_dose_mg_m2,
                    )
                )
            first = end + tmz.adjuvant_break_days if rt is not None else self.delay_days
            for i in range(tmz.adjuvant_cycles):
                dose = tmz.adjuvant_first_dose_mg_m2 if i == 0 else tmz.adjuvant_dose_mg_m2
                day0 = first + tmz.cycle_length_days * i
                courses.append(
                    ChemoCourse(
                        start_day=day0,
                        end_day=day0 + tmz.cycle_days,
                        kill_rate_per_day=tmz_kill_rate(dose, tmz_kill_rate_per_day),
                        dose_mg_m2=dose,
                    )
                )
        return TreatmentPlan(
            name=self.name, start=start, radiotherapy=rt, chemotherapy=tuple(courses)
        )


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "plan"
    msg = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where}: {msg}{more}"


def parse_plan_spec(payload: Any, source: str = "plan") -> PlanSpec:
    """Validate a decoded plan (mapping) against the schema; InputError naming the field."""
    if not isinstance(payload, dict):
        raise InputError(f"{source}: a plan must be a mapping of fields", "see docs/plans.md")
    try:
        return PlanSpec.model_validate(payload)
    except ValidationError as err:
        raise InputError(f"invalid plan {source}: {_one_line(err)}", "see docs/plans.md") from None


def load_plan_file(path: Path) -> PlanSpec:
    """Read and validate a YAML or JSON plan file (at most 1 MB)."""
    import yaml

    if not path.is_file():
        raise InputError(f"plan file {path.name} not found", "give the path of a .yaml or .json")
    if path.stat().st_size > MAX_PLAN_FILE_BYTES:
        raise InputError(f"plan file {path.name} is larger than 1 MB", "a plan is a few lines")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        payload = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise InputError(
            f"plan file {path.name} is not valid {path.suffix[1:] or 'YAML'}: "
            f"{str(err).splitlines()[0]}"
        ) from None
    return parse_plan_spec(payload, path.name)


@functools.cache
def library() -> dict[str, PlanSpec]:
    """The shipped regimens by name (``data/plans/library.yaml``)."""
    import yaml

    raw = yaml.safe_load(data_path("plans", "library.yaml").read_text(encoding="utf-8"))
    specs = [parse_plan_spec(item, "library") for item in raw["regimens"]]
    return {s.name: s for s in specs}


def resolve_plan(name_or_path: str) -> PlanSpec:
    """A library regimen by name, or a plan file (``.yaml``/``.yml``/``.json``)."""
    lib = library()
    if name_or_path in lib:
        return lib[name_or_path]
    path = Path(name_or_path)
    if path.suffix.lower() in {".yaml", ".yml", ".json"}:
        return load_plan_file(path)
    raise InputError(
        f"unknown plan {name_or_path!r}",
        f"use a library regimen ({', '.join(lib)}) or a plan file (.yaml/.json); "
        "`braintwin plans list` shows them",
    )


def regimen_plan(name: str, start: dt.date) -> TreatmentPlan:
    """``TreatmentPlan`` of a library regimen or plan file starting on ``start``."""
    return resolve_plan(name).to_plan(start)
