"""Figures of a plan comparison: T1ce-visible volume bands and progression-free curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from braintwin.plan.predictive import DAYS_PER_MONTH
from braintwin.report.figures import to_png
from braintwin.report.model_figures import _mpl
from braintwin.report.naming import compartment_label

__all__ = ["plan_comparison_figure"]


def plan_comparison_figure(payload: Mapping[str, Any]) -> bytes:
    """From a stored comparison (``PlanComparison.to_json()``): left, the median expected
    T1ce-visible (TC) volume and its 50 % band per plan; right, the posterior probability of
    being progression-free over time per plan (months from the plan start)."""
    plt = _mpl()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.5, 3.8))  # type: ignore[attr-defined]
    cmap = plt.get_cmap("tab10")  # type: ignore[attr-defined]
    days = np.asarray(payload["days"], dtype=float)
    horizon = float(payload["horizon_days"])
    months = days / DAYS_PER_MONTH
    grid = np.linspace(0, horizon, 200)
    for k, (name, q) in enumerate(payload["tc_ml_bands"].items()):
        c = cmap(k % 10)
        ax.fill_between(months, q["q25"], q["q75"], color=c, alpha=0.2, lw=0)
        ax.plot(months, q["q50"], color=c, lw=1.8, label=name)
        samples: Sequence[float | None] = payload["ttp_samples_days"][name]
        t = np.sort([horizon + 1 if x is None else x for x in samples])
        surv = 1.0 - np.searchsorted(t, grid, side="right") / max(t.size, 1)
        bx.step(grid / DAYS_PER_MONTH, surv, where="post", color=c, lw=1.8, label=name)
    ax.set_xlabel("months from the plan start")
    ax.set_ylabel(f"{compartment_label('enhancing')} (mL)")
    ax.set_title("median and 50 % band over the posterior", fontsize=10)
    ax.set_yscale("symlog", linthresh=1.0)
    bx.set_xlabel("months from the plan start")
    bx.set_ylabel("P(progression-free)")
    bx.set_ylim(-0.02, 1.02)
    bx.set_title("posterior predictive progression-free probability", fontsize=10)
    bx.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return to_png(fig, "white")
