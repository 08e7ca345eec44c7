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
    evaluator = ModelEvaluator(sim, max(2, min(search_samples, n_samples)))
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
        payload["posterior_source"] = post.source
        ref.store.save_artifact(ref.id, "plan_optimisation", payload, visit_date=post.last_date)
    return OptimisedPlans(result, verification)
