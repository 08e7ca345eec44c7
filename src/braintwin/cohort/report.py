"""A trial's report: the survival summary (``summary.json``) and the PFS plot (``pfs.png``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.atomic import atomic_write, atomic_write_with
from braintwin.calibrate.trial import DAYS_PER_MONTH, DEFINITION
from braintwin.cohort.analysis import BOOTSTRAP, KMCurve, analyse
from braintwin.cohort.results import ResultsFolder

__all__ = ["STUPP_2005", "plot_pfs", "trial_report"]

# Stupp et al. 2005, NEJM 352:987: median PFS 6.9 (RT + TMZ) vs 5.0 months (RT), HR 0.54.
STUPP_2005 = {"stupp": 6.9, "rt": 5.0, "hazard_ratio": 0.54}


def plot_pfs(curves: dict[str, KMCurve], summary: dict[str, Any], horizon_days: float) -> Any:
    """Kaplan-Meier curves (months) with their 95 % bands; returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.5), dpi=120)
    ax = fig.add_subplot()
    end = horizon_days / DAYS_PER_MONTH
    for arm, c in curves.items():
        x = np.r_[0.0, c.times / DAYS_PER_MONTH, end]
        y = np.r_[1.0, c.survival, c.survival[-1] if c.survival.size else 1.0]
        lo = np.r_[1.0, c.lower, c.lower[-1] if c.lower.size else 1.0]
        hi = np.r_[1.0, c.upper, c.upper[-1] if c.upper.size else 1.0]
        med = summary["arms"][arm]["median_pfs_months"]
        label = f"{arm}: median {'not reached' if med is None else f'{med:.1f} mo'}"
        (line,) = ax.step(x, y, where="post", label=label)
        ax.fill_between(x, lo, hi, step="post", alpha=0.2, color=line.get_color(), lw=0)
    ax.axhline(0.5, color="grey", lw=0.6, ls="--")
    ax.set_xlim(0, end)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("months from the first radiotherapy day")
    ax.set_ylabel("progression-free (Kaplan-Meier, 95 % band)")
    hrs = [
        f"HR {k} {v['hazard_ratio']:.2f}"
        for k, v in summary["hazard_ratios"].items()
        if v["hazard_ratio"] is not None
    ]
    ax.set_title(f"SYNTHETIC virtual trial, n = {summary['n']}" + (f"; {hrs[0]}" if hrs else ""))
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def trial_report(out: Path, *, seed: int = 0, draws: int = BOOTSTRAP) -> dict[str, Any]:
    """Analyse the stored patients of ``out``; writes ``summary.json`` and ``pfs.png``."""
    folder = ResultsFolder(Path(out))
    settings = folder.settings()
    arms = folder.arm_names()
    outcomes = folder.load()
    summary, curves = analyse(outcomes, arms, seed=seed, draws=draws)
    summary["complete"] = len(outcomes) == settings.n
    summary["planned_n"] = settings.n
    summary["settings"] = settings.to_json()
    definition = DEFINITION
    if settings.schedule == "trial":
        definition = definition.replace(
            "first weekly assessment",
            "first assessment of the Stupp 2005 schedule (days 0, 70, then every 91)",
        )
    summary["definition"] = definition
    summary["patient_seconds_total"] = float(sum(o.seconds for o in outcomes))
    if {"stupp", "rt"} <= set(arms):
        summary["published"] = {
            "source": "Stupp et al. 2005, NEJM 352:987",
            "stupp_median_pfs_months": STUPP_2005["stupp"],
            "rt_median_pfs_months": STUPP_2005["rt"],
            "hazard_ratio": STUPP_2005["hazard_ratio"],
        }
    fig = plot_pfs(curves, summary, settings.horizon_days)
    plot = folder.root / "pfs.png"
    atomic_write_with(plot, lambda p: fig.savefig(p, format="png"))
    summary["plot"] = str(plot)
    atomic_write(folder.root / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
