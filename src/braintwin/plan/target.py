"""Target volumes: the standard 15 mm CTV and a model-informed CTV of the same volume.

Definitions (units: mm, mL, days):

* **GTV** = the T1ce-visible tumour: the tumour core TC = labels {1, 4} (enhancing tumour plus
  the necrotic / non-enhancing core it encloses). A binary mask counts as enhancing tumour
  (label 4), so there the GTV is the mask. Edema (label 2) is not part of the GTV (the
  EORTC / ESTRO-EANO single-phase definition: contrast-enhancing abnormality, no FLAIR).
* **Standard CTV** = GTV grown by ``margin_mm`` (default 15 mm; ESTRO-EANO guideline for
  glioblastoma, Niyazi et al. 2023, Radiother Oncol 184:109663), restricted to the brain
  (``growth.treatment.target_dose_map``; the anatomical restriction at the brain's edge; no
  further barriers such as falx or tentorium are modelled). Distances run between voxel
  centres, as in a planning system's discrete expansion. The GTV is always inside, even where
  a coarse brain mask misses a voxel of it.
* **Model CTV** = the same number of voxels (hence the same volume), chosen where the
  posterior-mean tumour cell density is highest (the GTV first, as every CTV contains its GTV):
  for ``n_samples`` draws of the twin's posterior (D_w, ρ), the density those parameters imply
  behind the segmentation (``growth.profile``: the seed-grown profile inside, the edema kept,
  and the invisible travelling-wave tail of length sqrt(D/ρ) beyond the visible edge), averaged
  over the draws. Voxels of equal density (in practice: beyond the reach of every draw's
  tail, density 0) are taken in order of distance to the GTV. This is the GliODIL /
  PREDICT-GBM idea (Balcerak et al. 2025, Nat Commun, doi:10.1038/s41467-025-60366-4; Zimmer
  et al. 2025, arXiv:2509.13360): irradiate where the model puts the infiltration, not a
  sphere-like shell, at an equal volume.

``grow_days`` (default 0): the density is taken at the planning scan itself. A forward run
(``grow_days`` > 0, untreated growth on the twin's brain domain, no flux at the brain's edge)
describes a delay between the planning scan and the first fraction; it is not the default
because the tumour will not be left untreated (and a treated run would make the CTV depend on
the dose it defines). The default was fixed before any coverage was measured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from braintwin.errors import InputError
from braintwin.growth.treatment import target_dose_map
from braintwin.types import Modality, Volume, region_mask

if TYPE_CHECKING:
    from braintwin.calibrate import Posterior
    from braintwin.growth import Domain

__all__ = [
    "DEFAULT_GROW_DAYS",
    "DEFAULT_MARGIN_MM",
    "DEFAULT_SAMPLES",
    "GTV_DEFINITION",
    "TargetVolumes",
    "ctv_dose_map",
    "equal_volume_ctv",
    "gtv_mask",
    "standard_ctv",
    "target_volumes",
]

DEFAULT_MARGIN_MM = 15.0  # Niyazi et al. 2023 (ESTRO-EANO): GTV + 15 mm, anatomically restricted
DEFAULT_GROW_DAYS = 0.0  # the density at the planning scan (module docstring)
DEFAULT_SAMPLES = 32
GTV_DEFINITION = (
    "GTV = T1ce-visible tumour core TC (labels 1+4: enhancing tumour and the necrotic core it "
    "encloses; a binary mask is enhancing tumour)"
)
_NO_CELLS = 1e-5  # posterior-mean densities below this count as no tumour cells (ties)


@dataclass(frozen=True)
class TargetVolumes:
    """The GTV, the standard CTV and the equal-volume model CTV of one planning visit.

    Attributes:
        gtv, standard, model: masks (uint8 Volumes, modality MASK) on the twin's grid.
        density: posterior-mean tumour cell density (0-1, modality DENSITY), same grid.
        date: the (shifted) date of the planning visit (the posterior's last visit).
        margin_mm: the standard CTV's margin; grow_days: forward growth before ranking.
        n_samples: posterior draws averaged; source: ``"prior"`` or ``"mcmc"``.
        gtv_ml, standard_ml, model_ml: volumes (mL); model_ml == standard_ml by construction.
        threshold_density: lowest posterior-mean density inside the model CTV.
        voxels_by_distance: model-CTV voxels beyond every draw's infiltration tail (density
            < 1e-5), chosen by distance to the GTV.
        dice: overlap of the two CTVs (1 = identical).
        notes: human-readable remarks.
    """

    gtv: Volume
    standard: Volume
    model: Volume
    density: Volume
    date: dt.date
    margin_mm: float
    grow_days: float
    n_samples: int
    source: str
    gtv_ml: float
    standard_ml: float
    model_ml: float
    threshold_density: float
    voxels_by_distance: int
    dice: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-able figures (no volumes)."""
        return {
            "date": self.date.isoformat(),
            "gtv_definition": GTV_DEFINITION,
            "margin_mm": self.margin_mm,
            "grow_days": self.grow_days,
            "n_samples": self.n_samples,
            "posterior_source": self.source,
            "gtv_ml": round(self.gtv_ml, 3),
            "standard_ctv_ml": round(self.standard_ml, 3),
            "model_ctv_ml": round(self.model_ml, 3),
            "threshold_density": float(f"{self.threshold_density:.4g}"),
            "voxels_by_distance": self.voxels_by_distance,
            "dice_model_vs_standard": round(self.dice, 4),
            "notes": list(self.notes),
        }


def gtv_mask(seg: Volume) -> np.ndarray:
    """Boolean GTV (TC = labels 1 and 4; a binary mask is enhancing tumour) of ``seg``."""
    from braintwin.calibrate.forward import seg_labels

    return region_mask(seg_labels(seg), "TC")


def standard_ctv(
    gtv: np.ndarray, brain: np.ndarray, spacing_mm: tuple[float, float, float], margin_mm: float
) -> np.ndarray:
    """GTV + ``margin_mm`` (Euclidean, anisotropic spacing respected) inside the brain, GTV
    included; boolean, shape of ``gtv``."""
    if not 0 <= margin_mm <= 50:
        raise InputError(f"margin {margin_mm} mm", "give a CTV margin between 0 and 50 mm")
    gtv = np.asarray(gtv, bool)
    return (target_dose_map(gtv, np.asarray(brain, bool), spacing_mm, margin_mm) > 0) | gtv


def equal_volume_ctv(
    density: np.ndarray,
    gtv: np.ndarray,
    brain: np.ndarray,
    n_voxels: int,
    spacing_mm: tuple[float, float, float],
) -> tuple[np.ndarray, float, int]:
    """The ``n_voxels`` brain voxels of highest ``density`` (GTV first; equal densities by
    distance to the GTV, nearest first).

    Returns:
        (boolean mask with exactly ``n_voxels`` voxels, lowest density taken, number of
        voxels outside the GTV taken with no tumour cells, density < 1e-5, i.e. by distance).
    """
    gtv = np.asarray(gtv, bool)
    candidates = np.asarray(brain, bool) | gtv
    if not 0 < n_voxels <= int(candidates.sum()):
        raise InputError(f"cannot choose {n_voxels} of {int(candidates.sum())} brain voxels")
    dens = np.where(density >= _NO_CELLS, np.asarray(density, np.float64), 0.0)
    idx = np.flatnonzero(candidates)
    dist = ndimage.distance_transform_edt(~gtv, sampling=spacing_mm).ravel()[idx]
    d = dens.ravel()[idx]
    g = gtv.ravel()[idx]
    # lexsort: the last key sorts first -> GTV, then density (descending), then distance.
    order = np.lexsort((dist, -d, ~g))[:n_voxels]
    mask = np.zeros(gtv.size, bool)
    mask[idx[order]] = True
    chosen = d[order]
    empty = int(np.count_nonzero(~g[order] & (chosen == 0.0)))
    return mask.reshape(gtv.shape), float(chosen.min()), empty


def _mean_density(
    posterior: Posterior,
    *,
    grow_days: float,
    n_samples: int,
    seed: int,
    crop_mm: float,
    tissue: Domain | None,
) -> np.ndarray:
    """Posterior-mean density on the posterior's grid (float32, 0 outside the crop)."""
    from braintwin.calibrate.forward import ReducedProblem, single_thread
    from braintwin.growth.profile import geometry_density

    rng = np.random.default_rng(seed)
    rows = posterior.samples[rng.integers(len(posterior.samples), size=n_samples)]
    names = list(posterior.names)
    speed = 2.0 * np.sqrt(rows[:, names.index("D_w")] * rows[:, names.index("rho")])
    reach = float(np.quantile(speed, 0.95)) * grow_days
    problem = ReducedProblem.build(
        posterior.last_seg,
        posterior.brain_mask,
        posterior.last_date,
        margin_mm=min(crop_mm + reach, 120.0),
        observation=posterior.observation,
        tissue=tissue,
    )
    th = problem.thresholds
    shape = posterior.last_seg.shape
    total = np.zeros(shape, np.float64)
    with single_thread():
        for row in rows:
            log_theta = np.log(row)
            if grow_days > 0:
                traj = problem.run(names, log_theta, [grow_days], keep=[grow_days])
                total += problem.grid.expand(traj.at(grow_days).data)
            else:  # the fine-grid profile itself (no block averaging at t = 0)
                params = problem.parameters(names, log_theta)
                assert problem.geometry is not None  # set by ReducedProblem.build
                u = geometry_density(
                    problem.geometry,
                    params.D_w,
                    params.rho,
                    th.enhancing,
                    th.flair,
                    grid_mm=min(problem.grid.spacing),
                )
                total[problem.grid.box] += u * problem.box_brain
    mean = total / n_samples
    brain = (np.asarray(posterior.brain_mask.data) > 0) | gtv_mask(posterior.last_seg)
    return np.clip(mean * brain, 0.0, 1.0).astype(np.float32)


def target_volumes(
    posterior: Posterior,
    *,
    margin_mm: float = DEFAULT_MARGIN_MM,
    grow_days: float = DEFAULT_GROW_DAYS,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    tissue: Domain | None = None,
) -> TargetVolumes:
    """Standard and model CTV of the posterior's last visit (see the module docstring).

    Args:
        posterior: the twin's posterior (a one-visit posterior is the prior; said in notes).
        margin_mm: standard CTV margin (mm), 0-50.
        grow_days: untreated growth (days) before ranking; 0 = the planning scan's density.
        n_samples: posterior draws averaged (>= 2); seed: seeds the draw.
        tissue: growth ``Domain`` with tissue fractions on the posterior's grid (only used
            when ``grow_days`` > 0; default the twin's homogeneous brain).
    """
    if n_samples < 2:
        raise InputError("n_samples must be at least 2")
    if not 0 <= grow_days <= 365:
        raise InputError(f"grow_days {grow_days}", "give 0-365 days of growth before ranking")
    seg = posterior.last_seg
    if not seg.same_grid(posterior.brain_mask):
        raise InputError("the posterior's segmentation and brain mask are on different grids")
    gtv = gtv_mask(seg)
    if not gtv.any():
        raise InputError(
            f"the visit of {posterior.last_date} has no T1ce-visible tumour (GTV = TC is empty)",
            "a CTV needs an enhancing or necrotic tumour core",
        )
    brain = (np.asarray(posterior.brain_mask.data) > 0) | gtv
    spacing = seg.spacing
    standard = standard_ctv(gtv, brain, spacing, margin_mm)
    n = int(standard.sum())
    density = _mean_density(
        posterior,
        grow_days=grow_days,
        n_samples=n_samples,
        seed=seed,
        crop_mm=2.0 * margin_mm + 10.0,
        tissue=tissue,
    )
    model, low, tied = equal_volume_ctv(density, gtv, brain, n, spacing)
    vox_ml = seg.voxel_volume_mm3 / 1000.0
    notes = []
    if posterior.source == "prior":
        notes.append(
            "one visit only: the density averages the population prior's growth parameters "
            "(no patient-specific growth measured yet)"
        )
    if tied:
        notes.append(
            f"{tied} voxel(s) of the model CTV lie beyond every draw's infiltration tail "
            "(density < 1e-5) and were chosen by distance to the GTV"
        )
    inter = int(np.count_nonzero(model & standard))

    def mask(a: np.ndarray) -> Volume:
        return seg.with_data(a.astype(np.uint8), Modality.MASK)

    return TargetVolumes(
        gtv=mask(gtv),
        standard=mask(standard),
        model=mask(model),
        density=seg.with_data(density, Modality.DENSITY),
        date=posterior.last_date,
        margin_mm=float(margin_mm),
        grow_days=float(grow_days),
        n_samples=n_samples,
        source=posterior.source,
        gtv_ml=float(gtv.sum()) * vox_ml,
        standard_ml=n * vox_ml,
        model_ml=float(model.sum()) * vox_ml,
        threshold_density=low,
        voxels_by_distance=tied,
        dice=2.0 * inter / (2 * n),
        notes=notes,
    )


def ctv_dose_map(ctv: Volume) -> Volume:
    """Relative dose map of a CTV: 1 (the prescribed fraction dose) inside, 0 outside, float32
    on the CTV's grid; pass it as ``dose=`` to ``growth.simulate`` or ``calibrate.forecast``."""
    data = np.asarray(ctv.data)
    if not np.any(data > 0):
        raise InputError("the CTV is empty", "nothing to irradiate")
    return ctv.with_data((data > 0).astype(np.float32), Modality.OTHER, kind="relative dose")
