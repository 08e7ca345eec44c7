"""Decision support on the twin: compare treatment plans and optimise one, under the twin's
current posterior, stored as artifacts ("plan_comparison", "plan_optimisation").

The science is in :mod:`braintwin.plan`; this module only finds the twin's posterior, refuses
what cannot be answered (no calibrated model), and stores what was computed with the plans it
assumed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from braintwin.errors import InputError, NotFoundError
from braintwin.twin.model import TwinRef, latest_posterior

if TYPE_CHECKING:
    from braintwin.calibrate.records import Posterior
    from braintwin.plan.compare import PlanComparison
    from braintwin.plan.optimise import OptimisationResult
    from braintwin.plan.regimens import PlanSpec

__all__ = ["OptimisedPlans", "compare_twin_plans", "optimise_twin_plan", "planning_posterior"]

Progress = Callable[[str, float], None]


def planning_posterior(ref: TwinRef, *, allow_prior: bool = False) -> Posterior:
    """The posterior plans are judged under; clear errors when there is none to use."""
    post = latest_posterior(ref)
    if post is None:
        raise NotFoundError(
            f"patient {ref.id} has no calibrated growth model",
            f"run `braintwin calibrate {ref.id}` (needs a segmented visit)",
        )
    if post.source == "prior" and not allow_prior:
        raise InputError(
            f"patient {ref.id} has one visit only: its model is the population prior, "
            "not calibrated to measured growth",
            f"ingest a follow-up visit (the model updates itself) or run `braintwin update "
            f"{ref.id}`; --allow-prior compares plans under the prior anyway",
        )
    return post


def _start(post: Posterior, start: dt.date | None) -> dt.date:
    return start or post.last_date + dt.timedelta(days=1)


def compare_twin_plans(
    ref: TwinRef,
    specs: Sequence[PlanSpec],
    *,
    start: dt.date | None = None,
    horizon_days: float = 730.0,
    n_samples: int = 64,
    workers: int = 1,
    target: str = "margin",
    allow_prior: bool = False,
    store: bool = True,
    progress: Progress | None = None,
) -> PlanComparison:
    """Compare ``specs`` for the twin from ``start`` (default: the day after the last visit)."""
    from braintwin.plan.compare import compare_plans

    post = planning_posterior(ref, allow_prior=allow_prior)
    cmp = compare_plans(
        post,
        specs,
        _start(post, start),
        horizon_days=horizon_days,
        n_samples=n_samples,
        workers=workers,
        target=target,
        progress=progress,
    )
    if store:
        payload = cmp.to_json()
        payload["target"] = target
        payload["plan_specs"] = [s.model_dump(mode="json") for s in specs]
        payload["posterior_source"] = post.source
        ref.store.save_artifact(ref.id, "plan_comparison", payload, visit_date=post.last_date)
    return cmp


@dataclass
class OptimisedPlans:
    """The optimisation (search on a subset of samples) and its check on all samples."""

    result: OptimisationResult
    verification: PlanComparison

    def verdict(self) -> tuple[bool, str]:
        """Whether the optimised plan beats the reference on *all* posterior samples (the
        search saw a subset), and a sentence saying so."""
        ref, best = self.verification.summaries
        risk = self.result.risk
        key = "cvar10_ttp_days" if risk == "cvar" else "mean_ttp_days"
        r, b = getattr(ref, key), getattr(best, key)
        what = "CVaR10 of time to progression" if risk == "cvar" else "mean time to progression"
        if self.result.objective == "ttp":
            ok = b > r
            text = f"{what}: {b / 30.44:.1f} vs {r / 30.44:.1f} months"
        else:
            pfs_ok = (best.p_pfs_12m or 0.0) >= (ref.p_pfs_12m or 0.0)
            ok = best.total_dose_gy < ref.total_dose_gy and pfs_ok and b >= r
            p_best, p_ref = (
                "n/a" if p is None else f"{p:.2f}" for p in (best.p_pfs_12m, ref.p_pfs_12m)
            )
            text = (
                f"{best.total_dose_gy:.1f} vs {ref.total_dose_gy:.1f} Gy; P(progression-free at "
                f"12 months) {p_best} vs {p_ref}; {what} {b / 30.44:.1f} vs {r / 30.44:.1f} months"
            )
        n = self.verification.n_samples
        if ok:
            return True, f"on all {n} samples the optimised plan beats {ref.name} ({text})"
        return False, (
            f"on all {n} samples the optimised plan does NOT beat {ref.name} ({text}): "
            f"keep {ref.name}, or search on more samples (--search-samples)"
        )


def optimise_twin_plan(
    ref: TwinRef,
    reference: PlanSpec,
    *,
    objective: str = "ttp",
    risk: str = "cvar",
    start: dt.date | None = None,
    horizon_days: float = 730.0,
    n_samples: int = 64,
    search_samples: int = 12,
    maxiter: int = 12,
    workers: int = 1,
    allow_prior: bool = False,
    seed: int = 0,
    store: bool = True,
    progress: Progress | None = None,
) -> OptimisedPlans:
    """Optimise a plan for the twin (``plan.optimise``) and verify it against ``reference``
    with the full 3D posterior predictive of ``n_samples`` samples."""
    from braintwin.plan.compare import compare_plans
    from braintwin.plan.optimise import ModelEvaluator, optimise_plan
    from braintwin.plan.predictive import PlanSimulator

    post = planning_posterior(ref, allow_prior=allow_prior)
    day0 = _start(post, start)
    sim = PlanSimulator.build(post, day0, horizon_days=horizon_days, n_samples=n_samples)
    evaluator = ModelEvaluator(sim, sim.spread_samples(search_samples))
    result = optimise_plan(
        evaluator,
        reference,
        objective=objective,
        risk=risk,
        maxiter=maxiter,
        seed=seed,
        progress=progress,
    )
    result.notes += sim.notes
    verification = compare_plans(
        post,
        [reference, result.best],
        day0,
        horizon_days=horizon_days,
        n_samples=n_samples,
        workers=workers,
        simulator=sim,
    )
    if store:
        payload = result.to_json()
        payload["verification"] = verification.to_json()
        payload["beats_reference_on_all_samples"] = OptimisedPlans(result, verification).verdict()[
            0
        ]
        payload["posterior_source"] = post.source
        ref.store.save_artifact(ref.id, "plan_optimisation", payload, visit_date=post.last_date)
    return OptimisedPlans(result, verification)
