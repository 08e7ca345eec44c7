"""Forward run from a real visit: segmentation -> density -> simulate -> predicted masks.

``grow_from_segmentation`` is what ``braintwin grow ID`` calls (through the twin): it starts
from the latest visit's segmentation (inverse observation model), runs the model under a plan
until a date, and returns densities, predicted masks, volume-versus-time curves and a plot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.atomic import atomic_write_with
from braintwin.errors import ModelError
from braintwin.growth.domain import Domain
from braintwin.growth.observe import (
    COMPARTMENT_REGIONS,
    ObservationThresholds,
    density_from_segmentation,
    observe,
)
from braintwin.growth.parameters import GrowthParameters
from braintwin.growth.simulate import simulate
from braintwin.growth.tissue import TissueMaps
from braintwin.growth.trajectory import Trajectory
from braintwin.types.records import TreatmentPlan
from braintwin.types.volume import Volume

__all__ = ["GrowthRun", "grow_from_segmentation"]


@dataclass
class GrowthRun:
    """Result of a forward run.

    Attributes:
        start_date, until_date: the simulated interval.
        initial: the density at ``start_date`` (from the segmentation).
        final: the density at ``until_date``; ``masks``: predicted {"enhancing", "flair"}.
        dates: the dates of the curve samples; ``enhancing_ml``, ``flair_ml``, ``cells_ml``:
            visible volumes and total burden (mL) at those dates, shape (T,).
        trajectory: the underlying simulation (run statistics).
    """

    start_date: dt.date
    until_date: dt.date
    initial: Volume
    final: Volume
    masks: dict[str, Volume]
    dates: list[dt.date]
    enhancing_ml: np.ndarray
    flair_ml: np.ndarray
    cells_ml: np.ndarray
    trajectory: Trajectory
    plan: TreatmentPlan | None
    params: GrowthParameters

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary (volumes in mL, dates ISO)."""
        return {
            "start_date": self.start_date.isoformat(),
            "until_date": self.until_date.isoformat(),
            "plan": None if self.plan is None else self.plan.name,
            "parameters": self.params.model_dump(),
            "enhancing_ml": [float(x) for x in self.enhancing_ml],
            "flair_ml": [float(x) for x in self.flair_ml],
            "dates": [d.isoformat() for d in self.dates],
            "compartments": {k: f"{v}" for k, v in COMPARTMENT_REGIONS.items()},
            "notes": list(self.trajectory.notes),
            "solver": self.trajectory.solver,
            "seconds": self.trajectory.wall_seconds,
        }

    def save_plot(self, path: str | Path) -> Path:
        """Write a volume-versus-time PNG (T1ce-visible (TC) and FLAIR-visible (WT) volumes,
        radiotherapy marked)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        days = [(d - self.start_date).days for d in self.dates]
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
        th = self.trajectory.thresholds
        ax.plot(
            days,
            self.flair_ml,
            label=f"FLAIR-visible ({COMPARTMENT_REGIONS['flair']}; u ≥ {th.flair:.2g})",
        )
        ax.plot(
            days,
            self.enhancing_ml,
            label=f"T1ce-visible ({COMPARTMENT_REGIONS['enhancing']}; u ≥ {th.enhancing:.2g})",
        )
        if self.plan is not None and self.plan.radiotherapy is not None:
            off = self.plan.day_of(self.start_date)
            rt = [
                f.day - off
                for f in self.plan.radiotherapy.fractions
                if 0 <= f.day - off <= days[-1]
            ]
            if rt:
                ax.axvspan(min(rt), max(rt), color="tab:red", alpha=0.12, label="radiotherapy")
        ax.set_xlabel(f"days after {self.start_date.isoformat()}")
        ax.set_ylabel("volume (mL)")
        ax.set_title(f"Predicted tumour volume ({self.plan.name if self.plan else 'no treatment'})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        atomic_write_with(path, fig.savefig)
        plt.close(fig)
        return path


def grow_from_segmentation(
    seg: Volume,
    brain_mask: Volume,
    params: GrowthParameters,
    plan: TreatmentPlan | None,
    start_date: dt.date,
    until_date: dt.date,
    *,
    tissue: Domain | TissueMaps | None = None,
    thresholds: ObservationThresholds | None = None,
    every_days: float = 7.0,
    solver: str = "numba",
    progress: Any = None,
) -> GrowthRun:
    """Run the growth model from a segmented visit until ``until_date``.

    Args:
        seg: BraTS labels of the visit on ``brain_mask``'s grid.
        brain_mask: brain mask (the no-flux domain).
        params: growth parameters (e.g. a posterior summary).
        plan: treatment plan (days from ``plan.start``); None = untreated.
        start_date, until_date: the visit date and the forecast date (until > start).
        tissue: a ``Domain`` or ``TissueMaps`` on the same grid; default homogeneous tissue.
        every_days: spacing (days) of the volume-versus-time samples.
    """
    if until_date <= start_date:
        raise ModelError(f"forecast date {until_date} is not after the visit date {start_date}")
    if every_days <= 0:
        raise ModelError("every_days must be > 0")
    if isinstance(tissue, Domain):
        tissue.check_grid(brain_mask, "brain mask")
        domain = tissue
    elif isinstance(tissue, TissueMaps):
        domain = Domain.from_tissue_maps(tissue.wm, tissue.gm, tissue.csf, brain_mask)
    else:
        domain = Domain.homogeneous(brain_mask)
    th = thresholds or ObservationThresholds()
    u0 = density_from_segmentation(seg, brain_mask=brain_mask, thresholds=th, params=params)
    t_end = float((until_date - start_date).days)
    times = sorted({*np.arange(0.0, t_end, every_days).tolist(), t_end})
    tr = simulate(
        u0,
        domain,
        params,
        plan,
        times,
        start_date=start_date,
        keep=[t_end],
        thresholds=th,
        solver=solver,
        progress=progress,
    )
    final = tr.final
    return GrowthRun(
        start_date=start_date,
        until_date=until_date,
        initial=u0,
        final=final,
        masks=observe(final, th),
        dates=[start_date + dt.timedelta(days=float(t)) for t in times],
        enhancing_ml=tr.enhancing_mm3 / 1000.0,
        flair_ml=tr.flair_mm3 / 1000.0,
        cells_ml=tr.cells_mm3 / 1000.0,
        trajectory=tr,
        plan=plan,
        params=params,
    )
