"""The forward model calibration and forecasting run: ``braintwin.growth.simulate`` on a reduced grid.

This module is the only place that calls the growth engine. It builds, once per problem, the
cropped coarse domain and the distances to the first visit's visible regions, then for
any parameter vector builds the initial density **for those parameters** (the profile a tumour
with that D_w and ρ grows from a seed to the segmented size, ``growth.profile``: the same
initial condition as ``growth.density_from_segmentation``) and runs the solver. The initial
condition is thereby inferred jointly with the parameters: a diffuse slow tumour starts with
the wide, not yet fully formed infiltration it would have, a compact fast one with a sharp
edge; the visible regions of the first visit are kept as observed.

Threads: the numba solver is parallel, but calibration makes hundreds of short runs on small
crops, where thread start-up and contention with other processes on a 2-core machine cost
more than they give (measured: 1 thread was 5-10x faster than 2 on a loaded machine). Runs here
therefore use one numba thread (:func:`single_thread`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from braintwin.calibrate.grid import ReducedGrid, coarsen_preserving, make_reduced_grid
from braintwin.calibrate.likelihood import ObservationModel, log_likelihood
from braintwin.errors import InputError
from braintwin.growth import (
    Domain,
    GrowthParameters,
    ObservationThresholds,
    Trajectory,
    simulate,
)
from braintwin.growth.profile import (
    SegmentationGeometry,
    equivalent_radius_mm,
    geometry_density,
    segmentation_geometry,
)
from braintwin.types import Modality, TreatmentPlan, Volume
from braintwin.types.labels import region_mask

__all__ = ["ReducedProblem", "observed_regions", "seg_labels", "single_thread"]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run numba kernels on one thread inside the block (restored afterwards)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def seg_labels(seg: Volume) -> np.ndarray:
    """BraTS labels of a segmentation; a binary mask (0/1) counts as enhancing tumour (4)."""
    arr = np.asarray(seg.data)
    vals = set(np.unique(arr).tolist())
    if vals <= {0, 1} or seg.modality is Modality.MASK or arr.dtype == bool:
        return (arr > 0).astype(np.uint8) * 4
    return arr.astype(np.uint8)


def observed_regions(seg: Volume) -> dict[str, np.ndarray]:
    """Boolean observed regions of a segmentation on its grid.

    ``"enhancing"`` is the tumour core TC = {1, 4} (everything inside the enhancing rim, which is
    where u ≥ the T1ce threshold); ``"flair"`` is the whole tumour WT = {1, 2, 4}, only when the
    segmentation has edema (a binary enhancing mask carries no FLAIR information).
    """
    labels = seg_labels(seg)
    out = {"enhancing": region_mask(labels, "TC")}
    wt = region_mask(labels, "WT")
    if np.any(wt & ~out["enhancing"]):
        out["flair"] = wt
    return out


@dataclass
class ReducedProblem:
    """Everything needed to run the model from one visit on the reduced grid.

    Attributes:
        grid: the crop and coarsening (fine <-> coarse mapping).
        domain: ``growth.Domain`` on the coarse grid.
        start_labels: BraTS labels of the start visit, cropped to ``grid.box`` (fine voxels).
        box_affine: affine of that fine crop.
        box_brain: brain mask on the fine crop.
        start: date of the initial condition.
        plan: treatment plan (its ``start`` anchors fraction days), or None.
        observation: thresholds and noise scales.
        solver: growth solver name.
        geometry: distances (fine crop) to the start visit's visible regions, from which each
            parameter sample's initial density is built (``growth.profile``).
        dose: relative radiotherapy dose map on the coarse grid (block mean of a fine map,
            e.g. a CTV's ``plan.target.ctv_dose_map``), or None for simulate's default target.
    """

    grid: ReducedGrid
    domain: Domain
    start_labels: np.ndarray
    box_affine: np.ndarray
    box_brain: np.ndarray
    start: dt.date
    plan: TreatmentPlan | None
    observation: ObservationModel
    solver: str = "numba"
    geometry: SegmentationGeometry | None = None
    dose: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        start_seg: Volume,
        brain_mask: Volume,
        start: dt.date,
        *,
        extent_masks: Sequence[np.ndarray] = (),
        margin_mm: float = 20.0,
        plan: TreatmentPlan | None = None,
        observation: ObservationModel | None = None,
        target_mm: float = 2.0,
        max_voxels: int = 150_000,
        solver: str = "numba",
        tissue: Domain | None = None,
        dose: Volume | None = None,
    ) -> ReducedProblem:
        """Crop around the start tumour and ``extent_masks`` (later visits) + ``margin_mm``.

        ``tissue``: a growth ``Domain`` on the segmentation's grid with white/grey matter/CSF
        fractions (D_w, D_w/10, ~0); without it the brain is homogeneous white matter.
        ``dose``: relative dose map on the segmentation's grid (1 = the prescribed fraction
        dose); block-averaged onto the reduced grid and given to every run's radiotherapy.
        """
        obs = observation or ObservationModel()
        if not start_seg.same_grid(brain_mask):
            raise InputError(
                "segmentation and brain mask are on different grids",
                "resample them onto one grid (preprocess_visit does this)",
            )
        labels = seg_labels(start_seg)
        brain = np.asarray(brain_mask.data) > 0
        tumour = labels > 0
        if not tumour.any():
            raise InputError("the starting segmentation has no tumour voxels")
        # The tumour is part of the domain even where a coarse brain mask misses it.
        brain = brain | tumour
        grid = make_reduced_grid(
            [tumour, *extent_masks],
            brain,
            start_seg.affine,
            margin_mm=margin_mm,
            target_mm=target_mm,
            max_voxels=max_voxels,
        )
        coarse_brain = grid.reduce(brain) >= 0.5
        if tissue is None:
            mask_vol = Volume(coarse_brain.astype(np.uint8), grid.affine, Modality.MASK)
            domain = Domain.homogeneous(mask_vol)
        else:
            if tissue.shape != brain.shape or not np.allclose(
                tissue.affine, start_seg.affine, atol=1e-3
            ):
                raise InputError("tissue domain is not on the segmentation's grid", "resample it")
            # Tissue fractions are block means renormalised inside the coarse brain.
            fr = [grid.reduce(a) for a in (tissue.wm, tissue.gm, tissue.csf)]
            tot = np.maximum(fr[0] + fr[1] + fr[2], 1e-6)
            fr = [np.where(coarse_brain, a / tot, 0).astype(np.float32) for a in fr]
            fr[0] = np.where(coarse_brain & (tot <= 1e-6), 1.0, fr[0]).astype(np.float32)
            domain = Domain(coarse_brain, fr[0], fr[1], fr[2], grid.affine)
        lo = np.array([b.start for b in grid.box], float)
        box_aff = np.asarray(start_seg.affine, float).copy()
        box_aff[:3, 3] = box_aff[:3, :3] @ lo + box_aff[:3, 3]
        prob = cls(
            grid,
            domain,
            labels[grid.box].copy(),
            box_aff,
            brain[grid.box].copy(),
            start,
            plan,
            obs,
            solver,
        )
        if dose is not None:
            if not dose.same_grid(start_seg):
                raise InputError("dose map is not on the segmentation's grid", "resample it")
            prob.dose = grid.reduce(np.asarray(dose.data, np.float32))
        sp = start_seg.spacing
        radii = (
            equivalent_radius_mm(np.isin(labels, (1, 4)), sp),
            equivalent_radius_mm(tumour, sp),
        )
        prob.geometry = segmentation_geometry(prob.start_labels, sp, radii=radii)
        if not np.any(prob.initial(GrowthParameters()).data > 0):
            raise InputError("the tumour is too small for the reduced grid", "use a finer grid")
        return prob

    def initial(self, params: GrowthParameters) -> Volume:
        """Initial density on the coarse grid: the profile ``params`` grow (``growth.profile``)
        on the fine crop, zero outside the brain, coarsened keeping mass and visible volumes."""
        if self.geometry is None:
            raise InputError("reduced problem was not built with ReducedProblem.build")
        th = self.thresholds
        dens = geometry_density(
            self.geometry,
            params.D_w,
            params.rho,
            th.enhancing,
            th.flair,
            grid_mm=min(self.grid.spacing),
        )
        # Mass- and volume-preserving, not a block mean: a thin rim must still be visible at
        # day 0 on the coarse grid.
        u = coarsen_preserving(dens * self.box_brain, self.grid.factors)
        u = np.clip(u, 0.0, 1.0) * self.domain.mask
        return Volume(u.astype(np.float32), self.grid.affine, Modality.DENSITY)

    @property
    def thresholds(self) -> ObservationThresholds:
        return self.observation.thresholds

    def parameters(self, names: Sequence[str], log_theta: np.ndarray) -> GrowthParameters:
        """``GrowthParameters`` from log-parameters (names D_w, rho, alpha)."""
        values = {n: float(np.exp(v)) for n, v in zip(names, log_theta, strict=True)}
        return GrowthParameters(**values)

    def run(
        self,
        names: Sequence[str],
        log_theta: np.ndarray,
        days: Sequence[float],
        keep: Sequence[float] | None = None,
    ) -> Trajectory:
        """``growth.Trajectory`` at ``days`` after ``start`` (coarse grid)."""
        t = sorted({0.0, *(float(d) for d in days)})
        params = self.parameters(names, log_theta)
        return simulate(
            self.initial(params),
            self.domain,
            params,
            self.plan,
            t,
            solver=self.solver,
            start_date=self.start if self.plan is not None else None,
            keep=t if keep is None else list(keep),
            thresholds=self.thresholds,
            dose=self.dose,
        )

    def loglik(
        self,
        names: Sequence[str],
        log_theta: np.ndarray,
        observations: Sequence[tuple[float, dict[str, np.ndarray]]],
    ) -> float:
        """Log-likelihood of coarse soft observations ``[(day, {region: fraction})]``."""
        days = [d for d, _ in observations]
        traj = self.run(names, log_theta, days, keep=days)
        total = 0.0
        for day, obs in observations:
            u = traj.at(day).data
            total += log_likelihood(u, obs, self.grid.spacing, self.observation)
        return total
