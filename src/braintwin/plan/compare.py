"""Compare treatment plans for one patient under the twin's posterior.

For every plan the same posterior samples (paired: differences between plans are not sampling
noise) are run from the latest visit under the plan (``plan.predictive``); each plan is
summarised by its T1ce-visible volume bands, time to progression with a 90 % credible interval,
the probability of being progression-free at 6 and 12 months, the risk measure CVaR₁₀ and the
normal-brain dose (``plan.dose``). Work is split over ``workers`` processes by sample.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import numpy as np

from braintwin.calibrate.records import Posterior
from braintwin.errors import InputError
from braintwin.plan.dose import NormalBrainDose, normal_brain_dose
from braintwin.plan.predictive import (
    DAYS_PER_MONTH,
    PROGRESSION_DEFINITION,
    PlanOutcome,
    PlanSimulator,
)
from braintwin.plan.regimens import PlanSpec
from braintwin.types.records import TreatmentPlan
from braintwin.types.volume import Modality

TARGETS = ("margin", "model")

__all__ = ["TARGETS", "PlanComparison", "PlanSummary", "compare_plans", "summarise"]

SIX_MONTHS = 6 * DAYS_PER_MONTH
TWELVE_MONTHS = 12 * DAYS_PER_MONTH


@dataclass(frozen=True)
class PlanSummary:
    """One plan's row of the comparison (days from the plan start; mL; Gy)."""

    name: str
    title: str
    total_dose_gy: float
    n_fractions: int
    temozolomide: bool
    ttp_median_days: float | None
    ttp_q05_days: float | None
    ttp_q95_days: float | None
    mean_ttp_days: float
    cvar10_ttp_days: float
    p_pfs_6m: float | None
    p_pfs_12m: float | None
    normal_brain: NormalBrainDose

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["normal_brain"] = dict(self.normal_brain.__dict__)
        return out


@dataclass
class PlanComparison:
    """All plans' posterior predictives from one start date."""

    start: dt.date
    horizon_days: float
    n_samples: int
    summaries: list[PlanSummary]
    outcomes: list[PlanOutcome]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    definition: str = PROGRESSION_DEFINITION

    def best(self) -> PlanSummary:
        """The plan with the longest median TTP (censored at the horizon), ties by CVaR₁₀."""

        def key(s: PlanSummary) -> tuple[float, float]:
            med = self.horizon_days + 1 if s.ttp_median_days is None else s.ttp_median_days
            return (med, s.cvar10_ttp_days)

        return max(self.summaries, key=key)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "horizon_days": self.horizon_days,
            "n_samples": self.n_samples,
            "definition": self.definition,
            "plans": [s.to_dict() for s in self.summaries],
            "tc_ml_bands": {
                o.plan.name: {k: v.round(3).tolist() for k, v in o.tc_ml_bands.items()}
                for o in self.outcomes
            },
            "days": self.outcomes[0].days.tolist() if self.outcomes else [],
            "ttp_samples_days": {
                o.plan.name: [None if not np.isfinite(t) else float(t) for t in o.ttp_days]
                for o in self.outcomes
            },
            "notes": self.notes,
            "seconds": self.seconds,
        }


def summarise(spec: PlanSpec | None, outcome: PlanOutcome, dose: NormalBrainDose) -> PlanSummary:
    plan = outcome.plan
    fx = () if plan.radiotherapy is None else plan.radiotherapy.fractions
    return PlanSummary(
        name=plan.name,
        title=spec.title if spec is not None else plan.name,
        total_dose_gy=float(sum(f.dose_gy for f in fx)),
        n_fractions=len(fx),
        temozolomide=bool(plan.chemotherapy),
        ttp_median_days=outcome.ttp_quantile(0.5),
        ttp_q05_days=outcome.ttp_quantile(0.05),
        ttp_q95_days=outcome.ttp_quantile(0.95),
        mean_ttp_days=outcome.mean_ttp_days,
        cvar10_ttp_days=outcome.cvar10_ttp_days,
        p_pfs_6m=outcome.p_progression_free(SIX_MONTHS),
        p_pfs_12m=outcome.p_progression_free(TWELVE_MONTHS),
        normal_brain=dose,
    )


def _run_chunk(
    sim: PlanSimulator, plans: list[TreatmentPlan], lo: int, hi: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for plan in plans:
        o = sim.run(plan, samples=slice(lo, hi))
        out.append((o.tc_ml_samples, o.ttp_days))
    return out


def run_plans(
    sim: PlanSimulator,
    plans: Sequence[TreatmentPlan],
    *,
    workers: int = 1,
    progress: Callable[[str, float], None] | None = None,
) -> list[PlanOutcome]:
    """Posterior predictives of ``plans`` (samples split over ``workers`` processes)."""
    n = len(sim.params)
    if workers <= 1 or n < 2 * workers:
        outs = []
        for k, plan in enumerate(plans):
            outs.append(sim.run(plan))
            if progress is not None:
                progress(f"plan {plan.name}", (k + 1) / len(plans))
        return outs
    edges = np.linspace(0, n, workers + 1).astype(int)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_run_chunk, sim, list(plans), int(a), int(b))
            for a, b in itertools.pairwise(edges)
        ]
        chunks = []
        for k, f in enumerate(futures):
            chunks.append(f.result())
            if progress is not None:
                progress("plans (parallel)", (k + 1) / len(futures))
    days = sim.days
    return [
        PlanOutcome(
            plan,
            days,
            np.vstack([c[p][0] for c in chunks]),
            np.concatenate([c[p][1] for c in chunks]),
            sim.horizon_days,
        )
        for p, plan in enumerate(plans)
    ]


def compare_plans(
    posterior: Posterior,
    specs: Sequence[PlanSpec],
    start: dt.date,
    *,
    horizon_days: float = 730.0,
    n_samples: int = 64,
    seed: int = 0,
    workers: int = 1,
    target: str = "margin",
    simulator: PlanSimulator | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> PlanComparison:
    """Posterior predictive of every plan in ``specs`` from ``start`` (see module doc);
    ``target``: "margin" (each plan's visible tumour + margin) or "model" (the model CTV of
    equal volume, ``plan.target``, as a spatial dose map for every plan);
    ``simulator``: one already built for this posterior and start (reused, not rebuilt)."""
    if not specs:
        raise InputError("no plans to compare", "give --plans stupp,rt,… (see `plans list`)")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"plan names repeat: {', '.join(names)}", "give each plan once")
    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}", f"use one of {', '.join(TARGETS)}")
    t0 = time.perf_counter()
    notes: list[str] = []
    seg = posterior.last_seg
    visible = seg.with_data((np.asarray(seg.data) > 0).astype(np.uint8), Modality.MASK)
    dose_map = None
    ctv = None
    if target == "model" and simulator is None:
        from braintwin.plan.target import ctv_dose_map, target_volumes

        tv = target_volumes(posterior)
        ctv = tv.model
        dose_map = ctv_dose_map(ctv)
        notes.append(
            f"radiotherapy target: the model CTV ({tv.model_ml:.0f} mL, equal to the "
            "visible tumour core + 15 mm) for every plan"
        )
    sim = simulator or PlanSimulator.build(
        posterior, start, horizon_days=horizon_days, n_samples=n_samples, seed=seed, dose=dose_map
    )
    plans = [s.to_plan(start) for s in specs]
    outcomes = run_plans(sim, plans, workers=workers, progress=progress)
    summaries = [
        summarise(s, o, normal_brain_dose(p, visible, posterior.brain_mask, target=ctv))
        for s, o, p in zip(specs, outcomes, plans, strict=True)
    ]
    return PlanComparison(
        start,
        sim.horizon_days,
        len(sim.params),
        summaries,
        outcomes,
        notes + list(sim.notes),
        time.perf_counter() - t0,
    )
