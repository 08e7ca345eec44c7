"""Classical baseline: intensity clustering on FLAIR and T1ce inside the brain.

In the spirit of the digital-twin pipeline of Sarris et al. 2023 (brain-tumour twin built from
K-means / Gaussian-mixture clustering of FLAIR and T1ce rather than a trained network):

1. Whole tumour: cluster brain FLAIR intensities (z-scored) into ``k`` groups; clusters whose
   centre is at least ``min_flair_z`` SD above the brain mean are hyperintense. Morphological opening, then the largest connected component.
2. Enhancing tumour: cluster T1ce inside the (slightly dilated) whole tumour into 3 groups; the
   brightest is enhancing when at least ``min_t1ce_z`` SD above the brain mean; components
   smaller than ``min_component_mm3`` are dropped.
3. Necrosis: voxels enclosed by the enhancing ring (holes filled in 3D and in each axial slice)
   that do not enhance.

The thresholds are fixed priors chosen on imaging grounds (tumour FLAIR and enhancement stand
well above normal brain), not fitted to the evaluation cases.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from braintwin.errors import ConfigurationError, InputError
from braintwin.segment.data import zscore_in_mask
from braintwin.types.labels import Label
from braintwin.types.volume import Modality

__all__ = ["cluster_1d", "cluster_segment", "largest_component"]

Kind = Literal["kmeans", "gmm"]
_SAMPLE = 60_000


def cluster_1d(
    values: np.ndarray, k: int, kind: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster 1D intensities: (centres ascending (k,), per-value index into them (n,)).

    Fitted on a seeded random subsample (at most 60 000 voxels), then applied to all.
    """
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    v = values.reshape(-1, 1).astype(np.float64)
    fit = v[rng.choice(len(v), size=min(_SAMPLE, len(v)), replace=False)]
    if kind == "kmeans":
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(fit)
        centres, labels = km.cluster_centers_[:, 0], km.predict(v)
    elif kind == "gmm":
        gm = GaussianMixture(n_components=k, random_state=seed).fit(fit)
        centres, labels = gm.means_[:, 0], gm.predict(v)
    else:
        raise ConfigurationError(f"unknown clustering {kind!r}", "use 'kmeans' or 'gmm'")
    order = np.argsort(centres)
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    return centres[order], rank[labels]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean mask (empty stays empty)."""
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if n == 0:
        return mask.astype(bool)
    sizes = np.bincount(lab.ravel())[1:]
    return np.asarray(lab == int(np.argmax(sizes)) + 1)


def _drop_small(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    keep = sizes >= min_voxels
    keep[0] = False
    return np.asarray(keep[lab])


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    filled = ndimage.binary_fill_holes(mask)
    for z in range(mask.shape[2]):  # rings open in 3D are often closed within an axial slice
        if filled[:, :, z].any():
            filled[:, :, z] = ndimage.binary_fill_holes(filled[:, :, z])
    return np.asarray(filled, dtype=bool)


def cluster_segment(
    arrays: dict[Modality, np.ndarray],
    brain: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    kind: str = "kmeans",
    k_flair: int = 5,
    min_flair_z: float = 1.0,
    min_t1ce_z: float = 1.0,
    min_component_mm3: float = 50.0,
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """BraTS labels (uint8, input grid) and flags from FLAIR (+ T1ce) clustering."""
    if Modality.FLAIR not in arrays:
        raise InputError(
            "the clustering baseline needs FLAIR",
            "use method='unet', which works with any subset of sequences",
        )
    flags: list[str] = []
    voxel_mm3 = float(np.prod(spacing))
    radius = max(1, round(2.0 / min(spacing)))  # ~2 mm structuring element
    ball = ndimage.iterate_structure(ndimage.generate_binary_structure(3, 1), radius)
    flair = zscore_in_mask(arrays[Modality.FLAIR], brain)
    centres, ranks = cluster_1d(flair[brain], k_flair, kind, seed)
    wt = np.zeros(brain.shape, dtype=bool)
    wt[brain] = centres[ranks] >= min_flair_z
    if wt.any():
        wt = largest_component(ndimage.binary_opening(wt, structure=ball))
    labels = np.zeros(brain.shape, dtype=np.uint8)
    if not wt.any():
        return labels, flags
    labels[wt] = Label.EDEMA
    if Modality.T1CE not in arrays:
        flags.append("no T1ce: only the whole tumour (labelled edema) is segmented")
        return labels, flags
    t1ce = zscore_in_mask(arrays[Modality.T1CE], brain)
    region = ndimage.binary_dilation(wt, structure=ball) & brain
    if int(region.sum()) < 3 * 10:
        return labels, flags
    c2, r2 = cluster_1d(t1ce[region], 3, kind, seed)
    et = np.zeros(brain.shape, dtype=bool)
    et[region] = (r2 == 2) & (c2[r2] >= min_t1ce_z)
    et = _drop_small(et, max(1, round(min_component_mm3 / voxel_mm3)))
    if not et.any():
        return labels, flags
    tc = _fill_holes(et)
    labels[tc] = Label.NECROTIC
    labels[et] = Label.ENHANCING
    return labels, flags
