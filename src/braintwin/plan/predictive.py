"""Posterior predictive of a treatment plan: the twin's parameter samples pushed through the
growth model under the plan, summarised as the quantities a plan is judged by.

Progression (stated exactly, the twin's forecast definition): the first weekly assessment after
the plan start at which the expected T1ce-visible volume (TC; expected over the T1ce threshold
0.6-0.8) is >= 1.40 x its nadir since the plan start (the volumetric equivalent of RANO's +25 %
bidimensional product; Wen et al. 2010) and >= nadir + 0.52 mL (a measurable 10 mm lesion).
Time to progression (TTP) counts days from the plan start; a sample that has not progressed by
the horizon is censored there. Risk: CVaR₁₀ is the mean TTP of the worst 10 % of samples
(censored ones count at the horizon, so it is a lower bound when many are censored).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from braintwin.calibrate.forecasting import MEASURABLE_ML, RANO_VOLUME_RATIO, time_to_progression
from braintwin.calibrate.forward import ReducedProblem, single_thread
from braintwin.calibrate.priors import literature_prior
from braintwin.calibrate.records import Posterior
from braintwin.errors import InputError
from braintwin.growth.parameters import GrowthParameters
from braintwin.growth.simulate import simulate
from braintwin.types.records import TreatmentPlan
from braintwin.types.volume import Volume

__all__ = [
    "DAYS_PER_MONTH",
    "PROGRESSION_DEFINITION",
    "PlanOutcome",
    "PlanSimulator",
    "cvar_low",
]

DAYS_PER_MONTH = 365.25 / 12.0
PROGRESSION_DEFINITION = (
    "first weekly assessment after the plan start with expected T1ce-visible (TC) volume "
    ">= 1.40 x nadir and >= nadir + 0.52 mL (RANO +25 % SPD as a volume; a measurable 10 mm "
    "lesion); days from the plan start, censored at the horizon"
)
_QUANTILES = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}


def cvar_low(values: np.ndarray, level: float = 0.1) -> float:
    """Mean of the lowest ``level`` fraction of ``values`` (at least one value)."""
    v = np.sort(np.asarray(values, dtype=float))
    k = max(1, int(np.ceil(level * v.size)))
    return float(v[:k].mean())


@dataclass
class PlanOutcome:
    """A plan's posterior predictive (days from the plan start; volumes in mL)."""

    plan: TreatmentPlan
    days: np.ndarray
    tc_ml_samples: np.ndarray  # (n_samples, n_days) expected T1ce-visible volume
    ttp_days: np.ndarray  # (n_samples,), inf = not progressed by the horizon
    horizon_days: float

    @property
    def tc_ml_bands(self) -> dict[str, np.ndarray]:
        return {k: np.quantile(self.tc_ml_samples, q, axis=0) for k, q in _QUANTILES.items()}

    def ttp_quantile(self, q: float) -> float | None:
        """TTP quantile (days); None when that quantile is not reached within the horizon."""
        p_prog = float(np.isfinite(self.ttp_days).mean())
        if q > p_prog:
            return None
        return float(np.quantile(self.ttp_days, q, method="inverted_cdf"))

    def p_progression_free(self, day: float) -> float | None:
        """Probability of no progression by ``day`` (None beyond the horizon)."""
        if day > self.horizon_days + 1e-9:
            return None
        return float(np.mean(self.ttp_days > day))

    @property
    def ttp_censored(self) -> np.ndarray:
        return np.minimum(self.ttp_days, self.horizon_days)

    @property
    def mean_ttp_days(self) -> float:
        """Mean TTP with censored samples at the horizon (a lower bound if any are censored)."""
        return float(self.ttp_censored.mean())

    @property
    def cvar10_ttp_days(self) -> float:
        return cvar_low(self.ttp_censored, 0.1)


@dataclass
class PlanSimulator:
    """The twin's posterior samples, ready to be run under any plan from one start date.

    The model starts from the posterior's last visit; ``start`` (>= that visit) is the plan's
    day 0. Each sample's initial density (the profile its parameters grow, ``growth.profile``)
    is built once and reused for every plan.
    """

    problem: ReducedProblem
    params: list[GrowthParameters]
    initial: list[Volume]
    last_visit: dt.date
    start: dt.date
    horizon_days: float
    notes: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        posterior: Posterior,
        start: dt.date,
        *,
        horizon_days: float = 730.0,
        n_samples: int = 64,
        seed: int = 0,
        target_mm: float = 4.0,
        max_voxels: int = 40_000,
        dose: Volume | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> PlanSimulator:
        """``dose``: relative dose map on the posterior's grid (e.g. a model CTV's,
        ``plan.target.ctv_dose_map``) for every plan's radiotherapy; default each plan's own
        target (visible tumour + its margin at the first fraction)."""
        if start < posterior.last_date:
            raise InputError(
                f"plan start {start} is before the latest visit {posterior.last_date}",
                "plans are compared from the latest visit onwards; give a later --start",
            )
        if not 28 <= horizon_days <= 3650:
            raise InputError(f"horizon {horizon_days:g} days is outside 28-3650 days")
        if n_samples < 2:
            raise InputError("n_samples must be at least 2")
        rng = np.random.default_rng(seed)
        rows = posterior.samples[rng.integers(len(posterior.samples), size=n_samples)]
        names = list(posterior.names)
        notes = []
        if posterior.source == "prior":
            notes.append(
                f"one visit only: parameters from the {posterior.prior.source} prior, not "
                "measured growth of this patient"
            )
        if "alpha" not in names:
            alpha = np.exp(literature_prior(("alpha",)).sample(n_samples, rng))
            rows, names = np.hstack([rows, alpha]), [*names, "alpha"]
            notes.append("radiosensitivity alpha not calibrated: literature prior 0.02-0.04 /Gy")
        lead = float((start - posterior.last_date).days)
        speed = 2.0 * np.sqrt(rows[:, names.index("D_w")] * rows[:, names.index("rho")])
        margin = float(min(np.quantile(speed, 0.95) * (lead + horizon_days) + 10.0, 120.0))
        problem = ReducedProblem.build(
            posterior.last_seg,
            posterior.brain_mask,
            posterior.last_date,
            margin_mm=margin,
            observation=posterior.observation,
            target_mm=target_mm,
            max_voxels=max_voxels,
            dose=dose,
        )
        params = [problem.parameters(names, np.log(r)) for r in rows]
        initial = []
        for i, p in enumerate(params):
            initial.append(problem.initial(p))
            if progress is not None:
                progress("initial densities", (i + 1) / len(params))
        return cls(problem, params, initial, posterior.last_date, start, horizon_days, notes)

    def spread_samples(self, k: int) -> list[int]:
        """``k`` sample indices evenly spaced in growth speed 2·sqrt(D_w ρ), slowest to fastest:
        a small search subset that still holds the fast growers that set a plan's worst case."""
        speed = np.array([p.front_speed_mm_per_day for p in self.params])
        order = np.argsort(speed, kind="stable")
        k = max(2, min(k, order.size))
        return [int(order[i]) for i in np.linspace(0, order.size - 1, k).round().astype(int)]

    @property
    def days(self) -> np.ndarray:
        """Assessment days from the plan start (weekly, 0 .. horizon)."""
        return np.arange(0.0, self.horizon_days + 1e-9, 7.0)

    def run(
        self,
        plan: TreatmentPlan | None,
        *,
        dose: np.ndarray | None = None,
        samples: slice | Sequence[int] | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> PlanOutcome:
        """Posterior predictive of ``plan`` (its ``start`` must be this simulator's start)."""
        if plan is not None and plan.start != self.start:
            raise InputError(f"plan {plan.name} starts {plan.start}, not {self.start}")
        lead = float((self.start - self.last_visit).days)
        days = self.days
        t = (lead + days).tolist()
        all_idx = range(len(self.params))
        idx = all_idx[samples] if isinstance(samples, slice) else (samples or all_idx)
        vols = np.zeros((len(idx), days.size))
        ttp = np.zeros(len(idx))
        t0 = time.perf_counter()
        with single_thread():
            for j, i in enumerate(idx):
                traj = simulate(
                    self.initial[i],
                    self.problem.domain,
                    self.params[i],
                    plan,
                    sorted({0.0, *t}),
                    start_date=self.last_visit if plan is not None else None,
                    keep=[],
                    dose=dose if dose is not None else self.problem.dose,
                    thresholds=self.problem.thresholds,
                )
                v = np.interp(t, traj.times, traj.enhancing_expected_mm3) / 1000.0
                vols[j] = v
                ttp[j] = time_to_progression(
                    days, v, RANO_VOLUME_RATIO, min_increase=MEASURABLE_ML, interpolate=False
                )
                if progress is not None:
                    progress(f"plan {plan.name if plan else 'none'}", (j + 1) / len(idx))
        del t0
        return PlanOutcome(
            plan or TreatmentPlan(name="none", start=self.start), days, vols, ttp, self.horizon_days
        )
