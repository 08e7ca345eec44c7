"""Optimise radiotherapy fractionation and temozolomide timing under the twin's posterior.

Two objectives (Chaudhuri et al. 2023, Front. AI 6:1222612, optimised radiotherapy for
high-grade glioma under a calibrated posterior):

* ``"ttp"``: maximise time to progression at the standard total dose (60 Gy);
* ``"dose"``: minimise the total dose at equal control: the probability of being
  progression-free at 12 months, the risk measure of time to progression and the tumour left
  at the horizon (expected T1ce-visible volume; risk: mean of the worst 10 % of samples) all
  no worse than the standard plan's. (Progression-free probability alone is not enough: a
  slowly growing tumour stays progression-free under almost any plan within the horizon.)

The plan family searched (all on weekdays, ``fractions_per_week`` a week): two consecutive
radiotherapy phases (``n1`` fractions of ``d1`` Gy, then ``n2`` of ``d2`` Gy; a front-loaded or
back-loaded schedule; ``n1 = 0`` is uniform), concomitant temozolomide on or off and the
adjuvant cycles' start 0-8 weeks after radiotherapy. Constraints: fraction sizes within the
practical 1.5-5 Gy in 0.1 Gy steps, at most 40 fractions, and the normal-brain BED of the
prescription (α/β = 2 Gy) not above the standard plan's (``plan.dose``).

Risk: the objective is the conditional value-at-risk CVaR₁₀ of time to progression (the mean
of the worst 10 % of posterior samples) by default, or the mean; both are reported.

Search: SciPy's differential evolution (integer variables via ``integrality``) over an
``Evaluator``: for a patient's twin the full 3D model on a subset of the posterior samples
spread evenly over growth speed (``ModelEvaluator``; the first samples alone missed the fast
growers that set the worst case, and the plan chosen on them lost on CVaR₁₀ in the check); for the in-silico trial's spherical virtual patients the spherically
symmetric fast form (``RadialEvaluator``, exact for that geometry). A radial surrogate of a
real tumour (its equivalent spheres) was tried and rejected: real segmentations are not
spheres, and on a real progression case the surrogate's time to progression differed from the
3D model's by months and ranked plans differently. The twin then re-evaluates the chosen plan
and the reference with all posterior samples (``twin.planning``); those are the figures
reported, the search figures beside them.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.optimize import differential_evolution

from braintwin.calibrate.forecasting import MEASURABLE_ML, RANO_VOLUME_RATIO, time_to_progression
from braintwin.errors import InputError
from braintwin.growth.observe import ObservationThresholds
from braintwin.growth.parameters import GrowthParameters
from braintwin.growth.radial import simulate_radial
from braintwin.plan.dose import NORMAL_BRAIN_ALPHA_BETA_GY, bed
from braintwin.plan.predictive import DAYS_PER_MONTH, PlanSimulator, cvar_low
from braintwin.plan.regimens import (
    PlanSpec,
    RadiotherapySpec,
    RTPhase,
    TemozolomideSpec,
)

__all__ = [
    "OBJECTIVES",
    "RISKS",
    "Candidate",
    "Evaluation",
    "Evaluator",
    "ModelEvaluator",
    "OptimisationResult",
    "RadialEvaluator",
    "optimise_plan",
]

OBJECTIVES = ("ttp", "dose")
RISKS = ("cvar", "mean")
STANDARD_TOTAL_GY = 60.0
DOSE_STEP_GY = 0.1
FRACTION_RANGE_GY = (1.5, 5.0)
MAX_FRACTIONS = 40
CONTROL_DAY = 12 * DAYS_PER_MONTH


@dataclass(frozen=True)
class Candidate:
    """A point of the searched plan family (module doc)."""

    n1: int
    d1: float
    n2: int
    d2: float
    concomitant: bool
    adjuvant_break_days: float

    @property
    def doses(self) -> list[float]:
        return [self.d1] * self.n1 + [self.d2] * self.n2

    @property
    def total_gy(self) -> float:
        return float(sum(self.doses))

    def spec(self, name: str, reference: PlanSpec) -> PlanSpec:
        """The candidate as a plan, with the reference plan's margin, α/β and TMZ cycles."""
        rt_ref = reference.radiotherapy
        tmz_ref = reference.temozolomide or TemozolomideSpec()
        phases = tuple(
            RTPhase(fractions=n, dose_per_fraction_gy=round(d, 4))
            for n, d in ((self.n1, self.d1), (self.n2, self.d2))
            if n > 0
        )
        rt = RadiotherapySpec(
            phases=phases,
            margin_mm=rt_ref.margin_mm if rt_ref else 15.0,
            alpha_beta_gy=rt_ref.alpha_beta_gy if rt_ref else 10.0,
        )
        tmz = tmz_ref.model_copy(
            update={
                "concomitant": self.concomitant,
                "adjuvant_break_days": self.adjuvant_break_days,
            }
        )
        desc = " + ".join(f"{p.fractions}x{p.dose_per_fraction_gy:.2f} Gy" for p in phases)
        tmz_txt = ("concomitant TMZ, " if self.concomitant else "no concomitant TMZ, ") + (
            f"{tmz.adjuvant_cycles} adjuvant cycles from {self.adjuvant_break_days:g} d after RT"
        )
        return PlanSpec(
            name=name,
            title=f"{desc} ({self.total_gy:.1f} Gy), {tmz_txt}",
            reference="optimised by braintwin (plan.optimise)",
            radiotherapy=rt,
            temozolomide=tmz,
        )


@dataclass(frozen=True)
class Evaluation:
    """A plan over posterior samples: time to progression (days from the plan start; inf =
    not by the horizon) and the expected T1ce-visible volume at the horizon (mL)."""

    ttp: np.ndarray
    tc_end_ml: np.ndarray


class Evaluator(Protocol):
    """Evaluates plans over posterior samples."""

    @property
    def start(self) -> dt.date: ...
    @property
    def horizon_days(self) -> float: ...
    @property
    def evaluations(self) -> int: ...

    def evaluate(self, spec: PlanSpec) -> Evaluation: ...


@dataclass
class ModelEvaluator:
    """The full 3D posterior predictive (``plan.predictive``) on the samples ``indices``."""

    simulator: PlanSimulator
    indices: list[int]
    evaluations: int = 0

    @property
    def start(self) -> dt.date:
        return self.simulator.start

    @property
    def horizon_days(self) -> float:
        return self.simulator.horizon_days

    def evaluate(self, spec: PlanSpec) -> Evaluation:
        self.evaluations += 1
        o = self.simulator.run(spec.to_plan(self.start), samples=self.indices)
        return Evaluation(o.ttp_days, o.tc_ml_samples[:, -1])


@dataclass
class RadialEvaluator:
    """The spherically symmetric fast form (``growth.radial``): exact for a spherical tumour in
    a homogeneous brain (the in-silico trial's virtual patients), not for a real tumour's shape."""

    params: list[GrowthParameters]
    tc_radius_mm: float
    wt_radius_mm: float | None
    last_visit: dt.date
    start: dt.date
    horizon_days: float
    thresholds: ObservationThresholds = field(default_factory=ObservationThresholds)
    r_max_mm: float | None = None
    evaluations: int = 0

    def evaluate(self, spec: PlanSpec) -> Evaluation:
        plan = spec.to_plan(self.start)
        lead = float((self.start - self.last_visit).days)
        days = np.arange(0.0, self.horizon_days + 1e-9, 7.0)
        out = np.empty(len(self.params))
        end = np.empty(len(self.params))
        for i, p in enumerate(self.params):
            tr = simulate_radial(
                p,
                plan,
                (lead + days).tolist(),
                tc_radius_mm=self.tc_radius_mm,
                wt_radius_mm=self.wt_radius_mm,
                start_date=self.last_visit,
                thresholds=self.thresholds,
                r_max_mm=self.r_max_mm,
            )
            vol = np.asarray(tr.enhancing_expected_mm3) / 1000.0
            end[i] = vol[-1]
            out[i] = time_to_progression(
                days, vol, RANO_VOLUME_RATIO, min_increase=MEASURABLE_ML, interpolate=False
            )
        self.evaluations += 1
        return Evaluation(out, end)


RISK_NAMES = {"cvar": "CVaR10", "mean": "mean"}


def _burden(tc_end_ml: np.ndarray, risk: str) -> float:
    """Tumour left at the horizon: the mean of the largest 10 % (cvar) or the mean (mL)."""
    v = np.asarray(tc_end_ml, dtype=float)
    return -cvar_low(-v, 0.1) if risk == "cvar" else float(v.mean())


def _risk_value(ttp: np.ndarray, horizon: float, risk: str) -> float:
    t = np.minimum(ttp, horizon)
    return cvar_low(t, 0.1) if risk == "cvar" else float(t.mean())


@dataclass
class OptimisationResult:
    """The optimum, the reference and their figures on the search samples."""

    objective: str
    risk: str
    best: PlanSpec
    reference: PlanSpec
    candidate: Candidate
    search: dict[str, dict[str, float]]
    binding: list[str]
    evaluations: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "risk": self.risk,
            "best": self.best.model_dump(mode="json"),
            "reference": self.reference.name,
            "candidate": dict(self.candidate.__dict__),
            "search": self.search,
            "binding_constraints": self.binding,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "notes": self.notes,
        }


def _decode(x: np.ndarray, objective: str) -> Candidate | None:
    """Vector -> candidate; None if the decoded schedule is outside the family."""
    lo, hi = FRACTION_RANGE_GY
    n1 = round(x[0])
    d1 = lo + DOSE_STEP_GY * round(x[1])
    d2 = lo + DOSE_STEP_GY * round(x[2])
    conc = bool(round(x[3]))
    brk = 7.0 * round(x[4])
    if objective == "ttp":
        rest = STANDARD_TOTAL_GY - n1 * d1
        if rest < lo - 1e-9:
            return None
        n2 = max(1, math.ceil(rest / d2 - 1e-9))
        d2 = rest / n2  # exact standard total; the last phase absorbs the rounding
        if not lo - 1e-9 <= d2 <= hi + 1e-9:
            return None
    else:
        n2 = round(x[5])
    if n1 + n2 > MAX_FRACTIONS or n1 + n2 < 1:
        return None
    return Candidate(n1, d1, n2, d2, conc, brk)


def _encode(spec: PlanSpec, objective: str) -> np.ndarray | None:
    """The reference plan as a search vector, if it belongs to the family (a uniform or
    two-phase weekday schedule on the dose grid): the search then starts from it."""
    rt, tmz = spec.radiotherapy, spec.temozolomide or TemozolomideSpec()
    if rt is None or rt.explicit or not 1 <= len(rt.phases) <= 2 or rt.fractions_per_week != 5:
        return None
    phases = list(rt.phases)
    first = phases[0] if len(phases) == 2 else RTPhase(fractions=1, dose_per_fraction_gy=2.0)
    n1 = first.fractions if len(phases) == 2 else 0
    lo = FRACTION_RANGE_GY[0]
    x = [
        n1,
        round((first.dose_per_fraction_gy - lo) / DOSE_STEP_GY),
        round((phases[-1].dose_per_fraction_gy - lo) / DOSE_STEP_GY),
        int(tmz.concomitant),
        round(tmz.adjuvant_break_days / 7.0),
    ]
    if objective == "dose":
        x.append(phases[-1].fractions)
    return np.array(x, dtype=float)


def optimise_plan(
    evaluator: Evaluator,
    reference: PlanSpec,
    *,
    objective: str = "ttp",
    risk: str = "cvar",
    maxiter: int = 25,
    popsize: int = 8,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> OptimisationResult:
    """Search the plan family for ``objective`` under ``risk`` (module doc)."""
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}", f"use one of {OBJECTIVES}")
    if risk not in RISKS:
        raise InputError(f"unknown risk measure {risk!r}", f"use one of {RISKS}")
    if reference.radiotherapy is None:
        raise InputError(f"reference plan {reference.name} has no radiotherapy")
    t0 = time.perf_counter()
    ref_doses = [f.dose_gy for f in reference.to_plan(evaluator.start).radiotherapy.fractions]  # type: ignore[union-attr]
    bed_limit = bed(ref_doses, NORMAL_BRAIN_ALPHA_BETA_GY)
    h = evaluator.horizon_days
    ref = evaluator.evaluate(reference)
    ref_ctrl = float(np.mean(ref.ttp > CONTROL_DAY))
    ref_risk = _risk_value(ref.ttp, h, risk)
    ref_burden = _burden(ref.tc_end_ml, risk)
    n_steps = round((FRACTION_RANGE_GY[1] - FRACTION_RANGE_GY[0]) / DOSE_STEP_GY)
    bounds = [(0, 20), (0, n_steps), (0, n_steps), (0, 1), (0, 8)]
    if objective == "dose":
        bounds.append((1, MAX_FRACTIONS))
    cache: dict[Candidate, tuple[float, list[str], Evaluation | None]] = {}
    total_iter = maxiter + 1

    def score(c: Candidate) -> tuple[float, list[str], Evaluation | None]:
        if c in cache:
            return cache[c]
        violated: list[str] = []
        res: tuple[float, list[str], Evaluation | None]
        excess = bed(c.doses, NORMAL_BRAIN_ALPHA_BETA_GY) - bed_limit
        if excess > 1e-6:
            violated.append(f"normal-brain BED {bed_limit + excess:.1f} > {bed_limit:.1f} Gy")
            res = (1e6 + excess, violated, None)
        else:
            ev = evaluator.evaluate(c.spec("candidate", reference))
            # Tumour left at the horizon, relative to the reference: breaks ties between plans
            # whose samples all stay progression-free (their TTPs are all censored).
            burden = _burden(ev.tc_end_ml, risk) / max(ref_burden, 1e-6)
            if objective == "ttp":
                res = (-_risk_value(ev.ttp, h, risk) + 0.01 * burden, violated, ev)
            else:
                pen = 0.0
                ctrl = float(np.mean(ev.ttp > CONTROL_DAY))
                if ctrl < ref_ctrl - 1e-9:
                    violated.append(f"P(control at 12 months) {ctrl:.2f} < {ref_ctrl:.2f}")
                    pen += 1e3 * (ref_ctrl - ctrl) + 100
                worse = ref_risk - _risk_value(ev.ttp, h, risk)
                if worse > 1e-9:
                    violated.append(f"{RISK_NAMES[risk]} of TTP below the reference's")
                    pen += 100 + worse
                if burden > 1.0 + 1e-9:
                    violated.append("more tumour at the horizon than the reference leaves")
                    pen += 100 + 100 * (burden - 1.0)
                res = (c.total_gy + pen, violated, ev)
        cache[c] = res
        return res

    def f(x: np.ndarray) -> float:
        c = _decode(x, objective)
        return 1e7 if c is None else score(c)[0]

    it = [0]

    def cb(*_: Any, **__: Any) -> bool:
        it[0] += 1
        if progress is not None:
            progress(f"optimising ({objective}, {risk})", min(it[0] / total_iter, 1.0))
        return False

    x0 = _encode(reference, objective)
    if x0 is not None and not all(a <= v <= b for v, (a, b) in zip(x0, bounds, strict=True)):
        x0 = None
    res = differential_evolution(
        f,
        bounds,
        x0=x0,
        integrality=[True] * len(bounds),
        maxiter=maxiter,
        popsize=popsize,
        seed=seed,
        polish=False,
        tol=1e-6,
        callback=cb,
        updating="immediate",
    )
    best_c = _decode(res.x, objective)
    if best_c is None or score(best_c)[2] is None or score(best_c)[1]:
        why = "; ".join(score(best_c)[1]) if best_c is not None else "no schedule fits"
        raise InputError(
            f"no feasible plan found for objective {objective!r}: {why}",
            "the binding constraint is named; relax it or use the reference plan",
        )
    # Prefer the reference when the optimum does not beat it (the reference is feasible).
    best_ev = score(best_c)[2]
    assert best_ev is not None  # feasible: scored
    best_ttp = best_ev.ttp
    binding = []
    if bed(best_c.doses, NORMAL_BRAIN_ALPHA_BETA_GY) > bed_limit - 0.5:
        binding.append(f"normal-brain BED at its limit ({bed_limit:.1f} Gy, α/β = 2 Gy)")
    if objective == "dose" and float(np.mean(best_ttp > CONTROL_DAY)) <= ref_ctrl + 1e-9:
        binding.append(f"P(control at 12 months) at the reference's {ref_ctrl:.2f}")
    if max(best_c.d1 if best_c.n1 else 0.0, best_c.d2) >= FRACTION_RANGE_GY[1] - 1e-9:
        binding.append(f"fraction size at the practical maximum {FRACTION_RANGE_GY[1]:g} Gy")

    def figures(ev: Evaluation, total: float) -> dict[str, float]:
        t = ev.ttp
        med = np.quantile(np.minimum(t, h), 0.5)
        return {
            "tc_ml_at_horizon_median": float(np.median(ev.tc_end_ml)),
            "median_ttp_days_censored": float(med),
            "mean_ttp_days_censored": _risk_value(t, h, "mean"),
            "cvar10_ttp_days": _risk_value(t, h, "cvar"),
            "p_control_12m": float(np.mean(t > CONTROL_DAY)),
            "total_dose_gy": total,
        }

    name = f"optimised-{objective}-{risk}"
    return OptimisationResult(
        objective=objective,
        risk=risk,
        best=best_c.spec(name, reference),
        reference=reference,
        candidate=best_c,
        search={
            "reference": figures(ref, sum(ref_doses)),
            "best": figures(best_ev, best_c.total_gy),
        },
        binding=binding,
        evaluations=evaluator.evaluations,
        seconds=time.perf_counter() - t0,
    )
