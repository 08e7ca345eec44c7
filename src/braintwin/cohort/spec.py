"""Typed records of a virtual trial: arms, settings, one patient's task and its outcome.

An arm is a name and a plan factory ``plan(patient, start) -> TreatmentPlan``. The factory is
shipped to Dask workers, so it must pickle: a top-level function or a ``functools.partial`` of
one (no lambdas, no closures). :func:`named_arm` makes the arm of a regimen name;
a per-patient optimiser plugs in as ``ArmSpec("optimised", partial(my_optimiser, budget=…))``
with ``def my_optimiser(patient, start, *, budget): ...`` at module level.

Plan names go through :func:`resolve_plan`, the single place that maps a name to a plan.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.calibrate.trial import PATIENT_PRIORS, SCHEDULES, ArmOutcome, VirtualPatient
from braintwin.errors import BraintwinError, InputError
from braintwin.growth.parameters import GrowthParameters
from braintwin.types.records import TreatmentPlan

if TYPE_CHECKING:
    from braintwin.plan.regimens import PlanSpec

__all__ = [
    "BRAINS",
    "SIZES",
    "ArmSpec",
    "PatientOutcome",
    "PatientSpec",
    "PlanFactory",
    "TrialSettings",
    "arm_fingerprint",
    "file_arm",
    "named_arm",
    "named_plan",
    "parse_arms",
    "resolve_plan",
    "spec_plan",
]

PlanFactory = Callable[[VirtualPatient, dt.date], TreatmentPlan]
BRAINS = ("ball", "mni")
SIZES = ("residual", "literature")


def resolve_plan(name: str, start: dt.date) -> TreatmentPlan:
    """The plan called ``name`` starting on ``start`` (the one name -> plan resolver): a
    regimen of the library (``braintwin plans list``; Stupp and RT alone with the 15 mm
    margin of the current guideline, so their figures differ slightly from `eval population`,
    which keeps the 20 mm of its published runs)."""
    from braintwin.plan.regimens import regimen_plan

    try:
        return regimen_plan(name, start)
    except BraintwinError as err:
        raise InputError(f"unknown arm {name!r}", err.hint) from None


def named_plan(name: str, patient: VirtualPatient, start: dt.date) -> TreatmentPlan:
    """Plan factory of a named regimen: the same plan for every patient."""
    del patient  # a named regimen does not depend on the patient
    return resolve_plan(name, start)


@dataclass(frozen=True)
class ArmSpec:
    """One arm: its label and ``plan(patient, start)``, a picklable plan factory."""

    name: str
    plan: PlanFactory


def named_arm(name: str) -> ArmSpec:
    """The arm of a regimen name (checked now, so a typo fails before any work)."""
    resolve_plan(name, dt.date(2005, 1, 3))
    return ArmSpec(name, functools.partial(named_plan, name))


PLAN_FILE_SUFFIXES = (".json", ".yaml", ".yml")


def spec_plan(spec: PlanSpec, patient: VirtualPatient, start: dt.date) -> TreatmentPlan:
    """Plan factory of a plan-file spec: the same plan for every patient. The validated spec
    itself travels to the workers, not the file's path."""
    del patient
    return spec.to_plan(start)


def file_arm(path: Path) -> ArmSpec:
    """The arm of a plan file, read and validated now, named after the file. Its
    fingerprint holds the spec's content, so a changed file cannot resume a trial."""
    if not path.is_file():
        raise InputError(f"plan file {path} does not exist", "check the path")
    from braintwin.plan.regimens import load_plan_file

    return ArmSpec(path.stem, functools.partial(spec_plan, load_plan_file(path)))


def parse_arms(text: str) -> tuple[ArmSpec, ...]:
    """Arms from ``"stupp,rt"``: regimen names or plan files (``.json``/``.yaml``), each at
    most once, at least one."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise InputError("no trial arms given", "use e.g. --arms stupp,rt")
    if len(set(names)) != len(names):
        raise InputError(f"an arm is named twice in {text!r}", "name each arm once")
    arms = tuple(
        file_arm(Path(n)) if n.lower().endswith(PLAN_FILE_SUFFIXES) else named_arm(n) for n in names
    )
    if len({a.name for a in arms}) != len(arms):
        raise InputError(f"two arms of {text!r} have the same name", "rename a plan file")
    return arms


def arm_fingerprint(arm: ArmSpec) -> str:
    """What identifies an arm's plan across runs: the factory's qualified name and its bound
    arguments (a partial's ``repr``), hashed. Resuming with a different plan is refused."""
    f: Any = arm.plan
    parts = []
    while isinstance(f, functools.partial):
        parts.append(f"{f.args!r}{sorted(f.keywords.items())!r}")
        f = f.func
    ident = f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}"
    digest = hashlib.sha256("|".join([ident, *parts]).encode()).hexdigest()[:16]
    return f"{ident}:{digest}"


@dataclass(frozen=True)
class TrialSettings:
    """Everything that determines a trial's outcomes (a resumed run must match all of it)."""

    n: int
    seed: int = 0
    brain: str = "mni"
    sizes: str = "literature"
    resolution_mm: float = 3.0
    horizon_days: float = 3 * 365.0
    schedule: str = "weekly"
    prior: str = "population"
    solver: str = "numba"

    def __post_init__(self) -> None:
        if self.n < 2:
            raise InputError("a virtual trial needs at least 2 patients", "use --n 100")
        if not 1.0 <= self.resolution_mm <= 8.0:
            raise InputError(f"resolution {self.resolution_mm} mm is outside 1-8 mm", "use 3")
        if self.brain not in BRAINS:
            raise InputError(f"unknown brain {self.brain!r}", f"use one of {', '.join(BRAINS)}")
        if self.brain == "mni" and self.resolution_mm != int(self.resolution_mm):
            raise InputError(
                f"the MNI brain needs a whole-mm resolution, not {self.resolution_mm}", "use 3"
            )
        if self.sizes not in SIZES:
            raise InputError(f"unknown size model {self.sizes!r}", f"use one of {SIZES}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown assessment schedule {self.schedule!r}", f"use {SCHEDULES}")
        if self.prior not in PATIENT_PRIORS:
            raise InputError(f"unknown patient prior {self.prior!r}", f"use {PATIENT_PRIORS}")
        if not 28.0 <= self.horizon_days <= 20 * 365.0:
            raise InputError(f"follow-up {self.horizon_days} days is outside 4 weeks-20 years")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PatientSpec:
    """One Dask task: a virtual patient, every arm (paired design) and the trial settings."""

    index: int
    patient: VirtualPatient
    arms: tuple[ArmSpec, ...]
    settings: TrialSettings


@dataclass(frozen=True)
class PatientOutcome:
    """One patient's outcomes in every arm (keyed by arm name, in arm order)."""

    index: int
    patient: VirtualPatient
    arms: dict[str, ArmOutcome]
    seconds: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, Any]:
        p = self.patient
        return {
            "index": self.index,
            "synthetic": True,
            "patient": {
                "params": p.params.model_dump(),
                "tc_ml": p.tc_ml,
                "centre_mm": list(p.centre_mm),
            },
            "arms": {k: asdict(v) for k, v in self.arms.items()},
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PatientOutcome:
        p = data["patient"]
        c = p["centre_mm"]
        patient = VirtualPatient(
            GrowthParameters(**p["params"]), float(p["tc_ml"]), (c[0], c[1], c[2])
        )
        arms = {
            k: ArmOutcome(
                float(v["day"]),
                bool(v["progressed"]),
                bool(v["vanished_4w"]),
                tuple(v["tc_ml"]),
                float(v.get("total_dose_gy", 0.0)),
            )
            for k, v in data["arms"].items()
        }
        return cls(int(data["index"]), patient, arms, float(data.get("seconds", 0.0)))
