"""Observation model (density -> visible masks) and its inverse (segmentation -> density).

Imaging sees only where the tumour cell density exceeds a detection threshold: the T1ce
enhancing boundary sits near u ≈ 0.6-0.8 and the FLAIR/T2 boundary near u ≈ 0.16-0.25
(Konukoglu et al. 2010, IEEE TMI; Lipková et al. 2019, IEEE TMI). The thresholds are
parameters; ``ObservationThresholds`` is the project's one threshold record (calibration's
``ObservationModel`` takes its defaults and validation from it). Beyond the FLAIR edge the
density keeps decaying (invisible infiltration).

What imaging sees is the density of tumour cells still present: viable ones *and* those
lethally damaged by treatment but not yet cleared (``simulate`` returns that total), so a
tumour does not vanish the day it is irradiated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from braintwin.errors import InputError, ModelError
from braintwin.types.labels import Label, Region, check_labels
from braintwin.types.volume import Modality, Volume

if TYPE_CHECKING:
    from braintwin.growth.parameters import GrowthParameters

__all__ = [
    "COMPARTMENT_REGIONS",
    "ObservationThresholds",
    "density_from_segmentation",
    "observe",
    "to_segmentation",
]

#: Which observed (BraTS) region each model compartment predicts. The T1ce-visible compartment
#: (u >= the enhancing threshold) is the whole tumour core inside the enhancing rim, i.e. TC =
#: {1, 4}, not the rim alone (ET); the FLAIR-visible compartment is the whole tumour WT. Every
#: score, table, plot and report pairs a compartment with this region (DESIGN.md convention 13).
COMPARTMENT_REGIONS: dict[str, Region] = {"enhancing": Region.TC, "flair": Region.WT}


@dataclass(frozen=True)
class ObservationThresholds:
    """Detection thresholds on the cell density u in [0, 1] (defaults: Lipková et al. 2019)."""

    enhancing: float = 0.7
    flair: float = 0.25
    #: The T1ce threshold is known only to lie in about 0.6-0.8 (Konukoglu 2010, Lipková 2019):
    #: the *expected* T1ce-visible volume averages over a threshold uniform in enhancing ± this.
    enhancing_spread: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.flair < self.enhancing < 1.0:
            raise ModelError(
                f"observation thresholds flair={self.flair}, enhancing={self.enhancing}",
                "need 0 < flair < enhancing < 1 (typical 0.16-0.25 and 0.6-0.8)",
            )
        if not 0 <= self.enhancing_spread < 0.5:
            raise ModelError(
                f"enhancing_spread {self.enhancing_spread} must lie in [0, 0.5)",
                "use e.g. 0.1 (threshold uncertain within 0.6-0.8)",
            )

    def expected_enhancing_fraction(self, u: np.ndarray) -> np.ndarray:
        """P(u >= threshold) for the T1ce threshold uniform in enhancing ± enhancing_spread."""
        # Kept between the FLAIR threshold and 1 (a threshold outside them is meaningless).
        spread = min(self.enhancing_spread, self.enhancing - self.flair, 1.0 - self.enhancing)
        if spread <= 0:
            return (u >= self.enhancing).astype(np.float32)
        return np.clip((u - (self.enhancing - spread)) / (2 * spread), 0.0, 1.0)


def _density_array(u: Volume | np.ndarray) -> np.ndarray:
    arr = np.asarray(u.data if isinstance(u, Volume) else u)
    if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
        raise InputError("cell density must be a finite float array")
    return arr


def observe(u: Volume, thresholds: ObservationThresholds | None = None) -> dict[str, Volume]:
    """Predicted masks from a density: ``{"enhancing": u >= T1ce thr, "flair": u >= FLAIR thr}``.

    Both are uint8 MASK volumes on ``u``'s grid; the enhancing mask lies inside the FLAIR mask.
    """
    th = thresholds or ObservationThresholds()
    arr = _density_array(u)
    return {
        "enhancing": u.with_data((arr >= th.enhancing).astype(np.uint8), Modality.MASK),
        "flair": u.with_data((arr >= th.flair).astype(np.uint8), Modality.MASK),
    }


def to_segmentation(u: Volume, thresholds: ObservationThresholds | None = None) -> Volume:
    """BraTS-style labels from a density: 4 (enhancing) where u >= T1ce thr, 2 (edema) in the
    rest of the FLAIR-visible region, 0 elsewhere (uint8 SEG volume)."""
    th = thresholds or ObservationThresholds()
    arr = _density_array(u)
    seg = np.zeros(arr.shape, dtype=np.uint8)
    seg[arr >= th.flair] = int(Label.EDEMA)
    seg[arr >= th.enhancing] = int(Label.ENHANCING)
    return u.with_data(seg, Modality.SEG)


def density_from_segmentation(
    seg: Volume,
    *,
    brain_mask: Volume | None = None,
    thresholds: ObservationThresholds | None = None,
    params: GrowthParameters | None = None,
) -> Volume:
    """Initial cell density (float32 DENSITY volume, seg's grid) from a BraTS segmentation.

    Consistent with :func:`observe` (the visible regions come back unchanged) and with the
    growth parameters ``params`` (default ``GrowthParameters()``): inside the tumour core
    (labels 1, 4; a binary mask counts as core) the profile a tumour with that D_w and ρ grows
    from a seed (``growth.profile``), exactly the T1ce threshold at the core's edge and near
    carrying capacity deep inside compact tumours; the edema decays from the T1ce to the FLAIR
    threshold; beyond the visible edge invisible infiltration decays with the travelling-wave
    length sqrt(D/ρ). Density is zero outside ``brain_mask``.
    """
    from braintwin.growth.parameters import GrowthParameters
    from braintwin.growth.profile import (
        equivalent_radius_mm,
        geometry_density,
        segmentation_geometry,
    )

    th = thresholds or ObservationThresholds()
    p = params or GrowthParameters()
    labels = np.asarray(seg.data)
    check_labels(labels)
    sp = seg.spacing
    whole = labels > 0
    if not whole.any():
        raise InputError(
            "segmentation has no tumour voxels", "nothing to start a growth model from"
        )
    radii = (equivalent_radius_mm(np.isin(labels, (1, 4)), sp), equivalent_radius_mm(whole, sp))
    reach = float(np.clip(p.wave_width_mm, 0.5, 20.0)) * math.log(th.flair / 1e-5)
    # Work on the tumour's bounding box grown by the tail's reach (EDT on 1 mm grids is costly).
    idx = np.nonzero(whole)
    box = tuple(
        slice(max(0, int(i.min()) - int(reach / s) - 1), min(n, int(i.max()) + int(reach / s) + 2))
        for i, n, s in zip(idx, labels.shape, sp, strict=True)
    )
    geo = segmentation_geometry(labels[box], sp, radii=radii)
    u = np.zeros(labels.shape, dtype=np.float32)
    u[box] = geometry_density(geo, p.D_w, p.rho, th.enhancing, th.flair, grid_mm=min(sp))
    if brain_mask is not None:
        if not brain_mask.same_grid(seg):
            raise InputError(
                "brain mask and segmentation grids differ", "resample one onto the other"
            )
        u[np.asarray(brain_mask.data) == 0] = 0.0
    return seg.with_data(u, Modality.DENSITY)
