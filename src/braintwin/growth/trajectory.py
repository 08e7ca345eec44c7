"""``Trajectory``: the result of a forward simulation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from braintwin.errors import ModelError
from braintwin.growth.observe import ObservationThresholds, observe
from braintwin.types.volume import Modality, Volume

__all__ = ["Trajectory"]


@dataclass
class Trajectory:
    """Densities and summaries at the requested output days.

    Attributes:
        times: output days after t = 0, shape (T,).
        affine: the domain grid's (4, 4) affine; ``shape`` its (nx, ny, nz).
        fields: per output, the float32 visible density (nx, ny, nz): viable cells plus cells
            lethally damaged by treatment and not yet cleared, clipped to 1; None when not kept.
        cells_mm3: viable tumour burden sum(u)·voxel volume (mm³ of fully packed tissue), (T,).
        enhancing_mm3, flair_mm3: visible volumes above the observation thresholds (mm³), (T,).
        thresholds: the observation thresholds used for the visible volumes.
        solver, steps, cell_updates, wall_seconds, dt_days: run statistics (dt_days = largest
            step used, days).
        crop_edge_density: largest density met on the working box's outer layer (brain
            boundary included); tiny values mean the crop lost nothing that matters.
        notes: warnings about the run (e.g. a visible tumour larger than is plausible).
        viable: per kept output, the viable cell density u alone (doomed cells excluded).
        enhancing_expected_mm3: expected T1ce-visible volume over the threshold's uncertainty
            (``ObservationThresholds.enhancing_spread``), (T,): a smooth version of
            ``enhancing_mm3`` that does not jump when a near-uniform core crosses 0.7.
    """

    times: np.ndarray
    affine: np.ndarray
    shape: tuple[int, int, int]
    fields: list[np.ndarray | None]
    cells_mm3: np.ndarray
    enhancing_mm3: np.ndarray
    flair_mm3: np.ndarray
    thresholds: ObservationThresholds
    solver: str
    steps: int = 0
    cell_updates: int = 0
    wall_seconds: float = 0.0
    dt_days: float = 0.0
    crop_edge_density: float = 0.0
    notes: list[str] = field(default_factory=list)
    viable: list[np.ndarray | None] = field(default_factory=list)
    enhancing_expected_mm3: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def index_of(self, day: float) -> int:
        """Index of the output at ``day`` (days after t = 0); ``ModelError`` if none."""
        hits = np.nonzero(np.isclose(self.times, day, atol=1e-6))[0]
        if hits.size == 0:
            raise ModelError(f"no output at day {day}", f"outputs are at {self.times.tolist()}")
        return int(hits[0])

    def density(self, i: int) -> Volume:
        """Density at output ``i`` as a DENSITY ``Volume`` (needs it to have been kept)."""
        f = self.fields[i]
        if f is None:
            raise ModelError(
                f"density at day {self.times[i]} was not kept", "pass keep=[...] to simulate"
            )
        return Volume(f, self.affine.copy(), Modality.DENSITY, {"day": float(self.times[i])})

    def viable_density(self, i: int) -> Volume:
        """Viable cell density u at output ``i`` (needs it to have been kept)."""
        f = self.viable[i] if i < len(self.viable) else None
        if f is None:
            raise ModelError(
                f"density at day {self.times[i]} was not kept", "pass keep=[...] to simulate"
            )
        return Volume(f, self.affine.copy(), Modality.DENSITY, {"day": float(self.times[i])})

    def at(self, day: float) -> Volume:
        return self.density(self.index_of(day))

    @property
    def final(self) -> Volume:
        return self.density(len(self.times) - 1)

    def observe(self, i: int) -> dict[str, Volume]:
        """Predicted ``{"enhancing", "flair"}`` masks at output ``i``."""
        return observe(self.density(i), self.thresholds)

    @property
    def cell_updates_per_s(self) -> float:
        return self.cell_updates / self.wall_seconds if self.wall_seconds > 0 else 0.0
