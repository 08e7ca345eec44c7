"""Observation model (density -> visible masks) and its inverse (segmentation -> density).

Imaging sees only where the tumour cell density exceeds a detection threshold: the T1ce
enhancing boundary sits near u ≈ 0.6-0.8 and the FLAIR/T2 boundary near u ≈ 0.16-0.25
(Konukoglu et al. 2010, IEEE TMI; Lipková et al. 2019, IEEE TMI). The thresholds are
parameters. Beyond the FLAIR edge the density keeps decaying (invisible infiltration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from braintwin.errors import InputError, ModelError
from braintwin.types.labels import Label, Region, check_labels, region_mask
from braintwin.types.volume import Modality, Volume

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

    def __post_init__(self) -> None:
        if not 0.0 < self.flair < self.enhancing < 1.0:
            raise ModelError(
                f"observation thresholds flair={self.flair}, enhancing={self.enhancing}",
                "need 0 < flair < enhancing < 1 (typical 0.16-0.25 and 0.6-0.8)",
            )


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
    core_density: float = 1.0,
    tail_mm: float = 3.0,
) -> Volume:
    """Initial cell density (float32 DENSITY volume, seg's grid) from a BraTS segmentation.

    Consistent with :func:`observe`: the tumour core (labels 1, 4) gets ``core_density``
    (near carrying capacity); edema (label 2) decays geometrically from the T1ce threshold at
    the core's edge to the FLAIR threshold at the visible edge; outside the FLAIR-visible
    region an exponential tail of length ``tail_mm`` (mm) models invisible infiltration.
    A binary mask (0/1) counts as tumour core. Density is zero outside ``brain_mask``.
    """
    th = thresholds or ObservationThresholds()
    if not th.enhancing <= core_density <= 1.0:
        raise ModelError(f"core_density {core_density} must be in [{th.enhancing}, 1]")
    if tail_mm <= 0:
        raise ModelError(f"tail_mm must be > 0, got {tail_mm}")
    labels = np.asarray(seg.data)
    check_labels(labels)
    wt = region_mask(labels, "WT")
    if not wt.any():
        raise InputError(
            "segmentation has no tumour voxels", "nothing to start a growth model from"
        )
    core = region_mask(labels, "TC")
    sp = seg.spacing
    # Work on the tumour's bounding box grown by the tail reach (EDT on 1 mm grids is costly).
    reach = tail_mm * np.log(th.flair / 1e-5)
    idx = np.nonzero(wt)
    box = tuple(
        slice(max(0, int(i.min()) - int(reach / s) - 1), min(n, int(i.max()) + int(reach / s) + 2))
        for i, n, s in zip(idx, labels.shape, sp, strict=True)
    )
    wt_b, core_b = wt[box], core[box]
    u_b = np.zeros(wt_b.shape, dtype=np.float64)
    d_out = ndimage.distance_transform_edt(~wt_b, sampling=sp)  # outside WT: distance to it
    u_b[~wt_b] = th.flair * 0.999 * np.exp(-d_out[~wt_b] / tail_mm)
    edema = wt_b & ~core_b
    if core_b.any():
        d_core = ndimage.distance_transform_edt(~core_b, sampling=sp)
        d_edge = ndimage.distance_transform_edt(wt_b, sampling=sp)
        s = d_core / np.maximum(d_core + d_edge, 1e-9)  # 0 at the core edge, ~1 at the WT edge
        hi, lo = th.enhancing * 0.999, th.flair * 1.001
        u_b[edema] = hi * (lo / hi) ** s[edema]
        u_b[core_b] = core_density
    else:
        u_b[edema] = 0.5 * (th.flair + th.enhancing)
    u_b[u_b < 1e-5] = 0.0
    u = np.zeros(labels.shape, dtype=np.float32)
    u[box] = u_b
    if brain_mask is not None:
        if not brain_mask.same_grid(seg):
            raise InputError(
                "brain mask and segmentation grids differ", "resample one onto the other"
            )
        u[np.asarray(brain_mask.data) == 0] = 0.0
    return seg.with_data(u, Modality.DENSITY)
