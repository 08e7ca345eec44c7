"""The patient's course on one time axis: measured volumes, forecast bands, treatment.

Top: the volume of each tumour region at every visit (only where the visit can show it) and,
after the visit the forecast starts from, the model's median and 50 % / 90 % bands for the
observed region each compartment predicts (T1ce-visible → TC, FLAIR-visible → WT), in that
region's colour. Bottom: the treatment plan the forecast assumed — one tick per radiotherapy
fraction, a bar per chemotherapy course.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from braintwin.report.figures import _plt, to_png
from braintwin.types import TreatmentPlan

__all__ = ["ForecastBands", "VisitVolumes", "timeline_axes", "timeline_figure"]

REGION_COLOURS = {"WT": "tab:green", "TC": "tab:red", "ET": "goldenrod"}
_COMPARTMENT_REGION = {"enhancing": "TC", "flair": "WT"}


@dataclass(frozen=True)
class VisitVolumes:
    """Measured volumes (mL) of one visit, only the regions the visit can show."""

    date: dt.date
    volume_ml: Mapping[str, float]


@dataclass(frozen=True)
class ForecastBands:
    """A stored forecast's volume quantiles: compartment -> {"q05".."q95"} -> (m,) mL."""

    start: dt.date
    days: np.ndarray
    bands: Mapping[str, Mapping[str, np.ndarray]]
    plan_label: str


def _dates(start: dt.date, days: Sequence[float] | np.ndarray) -> list[dt.datetime]:
    base = dt.datetime.combine(start, dt.time())
    return [base + dt.timedelta(days=float(d)) for d in days]


def timeline_figure(
    visits: Sequence[VisitVolumes],
    *,
    forecast: ForecastBands | None = None,
    plan: TreatmentPlan | None = None,
) -> bytes:
    """PNG of the course (see module doc); dates are the twin's (shifted) dates."""
    return to_png(timeline_axes(visits, forecast=forecast, plan=plan), "white")


def timeline_axes(
    visits: Sequence[VisitVolumes],
    *,
    forecast: ForecastBands | None = None,
    plan: TreatmentPlan | None = None,
) -> Any:
    """The matplotlib figure of :func:`timeline_figure` (open, for inspection)."""
    plt = _plt()
    has_tx = plan is not None and (plan.radiotherapy is not None or plan.chemotherapy)
    fig, axes = plt.subplots(
        2 if has_tx else 1,
        1,
        figsize=(10, 4.6 if has_tx else 3.8),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [4, 1]} if has_tx else None,
    )
    ax = axes[0][0]
    for region, colour in REGION_COLOURS.items():
        pts = [(v.date, v.volume_ml[region]) for v in visits if region in v.volume_ml]
        if pts:
            x = [dt.datetime.combine(d, dt.time()) for d, _ in pts]
            ax.plot(
                x, [y for _, y in pts], "o-", color=colour, lw=1.6, ms=6, label=f"{region} measured"
            )
    if forecast is not None:
        x = _dates(forecast.start, forecast.days)
        for compartment, q in forecast.bands.items():
            region = _COMPARTMENT_REGION.get(compartment, compartment)
            c = REGION_COLOURS.get(region, "tab:blue")
            ax.fill_between(x, q["q05"], q["q95"], color=c, alpha=0.15, lw=0)
            ax.fill_between(x, q["q25"], q["q75"], color=c, alpha=0.3, lw=0)
            ax.plot(
                x, q["q50"], "--", color=c, lw=1.4, label=f"{region} forecast (median, 50/90 %)"
            )
        ax.axvline(x[0], color="0.5", lw=0.8, ls=":")
        ax.set_title(
            f"Tumour volume over time; forecast under plan {forecast.plan_label}", fontsize=10
        )
    else:
        ax.set_title("Tumour volume over time (measured)", fontsize=10)
    ax.set_ylabel("volume (mL)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="best")
    if has_tx and plan is not None:
        tx = axes[1][0]
        ticks, labels = [], []
        if plan.radiotherapy is not None:
            fx = _dates(plan.start, [f.day for f in plan.radiotherapy.fractions])
            tx.vlines(fx, 0.55, 0.95, color="tab:purple", lw=1.2)
            ticks.append(0.75)
            labels.append(f"RT {plan.radiotherapy.total_dose_gy:g} Gy / {len(fx)} fx")
        for course in plan.chemotherapy:
            a, b = _dates(plan.start, [course.start_day, course.end_day])
            tx.plot([a, b], [0.25, 0.25], color="tab:blue", lw=5, solid_capstyle="butt")
        if plan.chemotherapy:
            ticks.append(0.25)
            labels.append(plan.chemotherapy[0].drug)
        tx.set_ylim(0, 1.05)
        tx.set_yticks(ticks, labels, fontsize=8)
        tx.grid(alpha=0.3, axis="x")
    axes[-1][0].set_xlabel("date (shifted)")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
