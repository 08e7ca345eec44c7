"""From region probabilities on the input grid to BraTS labels: the one post-processing path.

Steps, in order (each optional step is off when its parameter is 0 / False):

1. Per-region thresholds on the (trilinearly upsampled) probabilities, then only the main
   whole-tumour components are kept (:func:`braintwin.segment.regions.keep_main_components`).
2. Full-resolution refinement of the enhancing tumour (:func:`refine_enhancing`): the network
   sees 2 mm voxels, which cannot resolve a 2–4 mm enhancing rim; at the input resolution
   (about 1 mm) enhancement is re-read from the T1ce image itself, relative to the case's own
   enhancing intensities.
3. Full-resolution refinement of the whole tumour's boundary (:func:`refine_whole_tumour`):
   within a band around the upsampled 2 mm edge, membership is re-read from the FLAIR image,
   relative to the case's own intensities just inside and just outside the edge.
4. Small enhancing predictions relabelled as core (:func:`relabel_small_enhancing`), the
   BraTS post-processing of Isensee et al. 2018 (arXiv:1809.10483): a case whose predicted
   enhancing volume is below a threshold most likely has none (low-grade glioma), and BraTS
   scores a false-positive ET there as Dice 0.

Both :func:`braintwin.segment.api.segment_volumes` (hence ``braintwin eval segment`` and
``ingest``) and the cross-validation harness (:mod:`braintwin.segment.cvcompare`) call
:func:`labels_from_probabilities`, so what is measured is what runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from braintwin.errors import ConfigurationError
from braintwin.segment.regions import keep_main_components, regions_to_labels
from braintwin.types.labels import Label

__all__ = [
    "SHELL_MM",
    "SHIPPED",
    "PostProcessing",
    "enhancement_contrast",
    "labels_from_probabilities",
    "refine_enhancing",
    "refine_whole_tumour",
    "relabel_small_enhancing",
]


@dataclass(frozen=True)
class PostProcessing:
    """Parameters of the optional steps (chosen by cross-validation; see the README).

    Attributes:
        min_et_mm3: a predicted enhancing volume below this (mm³) becomes core (0: off).
        refine_et: re-read enhancement from the full-resolution T1ce.
        rim_margin_mm: how far outside the predicted core enhancement may be found.
        et_rule: how the case's enhancement threshold is set from its own intensities:
            "midpoint": ``et_level`` of the way from the median T1ce z-score of the candidates
            the network does not call enhancing up to the median of those it does;
            "quantile": the ``et_level`` quantile of the network-enhancing voxels' z-scores;
            "otsu": Otsu's two-class threshold of the candidates' z-scores.
        et_level: the fraction ("midpoint") or quantile ("quantile"); unused by "otsu".
        et_floor: voxels need at least this network ET probability to be candidates.
        min_enhancement_z: refine only when the network's enhancing tumour is this much
            brighter on T1ce (median z-score) than the brain just outside the whole tumour
            (:func:`enhancement_contrast`); None: always refine.
        wt_band_mm: re-read the whole tumour's boundary from the full-resolution FLAIR within
            this distance (mm) on both sides of it (:func:`refine_whole_tumour`; 0: off).
        wt_level: where between the FLAIR medians of the outer and the inner band the
            boundary threshold lies (0: the outer median, 1: the inner one).
    """

    min_et_mm3: float = 0.0
    refine_et: bool = False
    rim_margin_mm: float = 2.0
    et_rule: str = "midpoint"
    et_level: float = 0.5
    et_floor: float = 0.1
    min_enhancement_z: float | None = None
    wt_band_mm: float = 0.0
    wt_level: float = 0.3


def _box(mask: np.ndarray, reach: list[int]) -> tuple[slice, ...]:
    """Bounding box of a non-empty ``mask`` grown by ``reach`` voxels per axis, inside the grid."""
    idx = np.argwhere(mask)
    return tuple(
        slice(max(int(a) - r, 0), min(int(b) + r + 1, n))
        for a, b, r, n in zip(idx.min(0), idx.max(0), reach, mask.shape, strict=True)
    )


#: The normal-appearing tissue enhancement is compared with: brain 2-6 mm outside the whole
#: tumour (past its partial-volume edge, near enough that a bias field barely changes).
SHELL_MM: tuple[float, float] = (2.0, 6.0)


def enhancement_contrast(
    wt: np.ndarray, et: np.ndarray, t1ce_z: np.ndarray, spacing: tuple[float, float, float]
) -> float:
    """Median T1ce z-score of ``et`` minus that of the brain in :data:`SHELL_MM` around ``wt``.

    Enhancing tumour is, by definition, brighter than normal brain after contrast; a network
    "enhancing" region that is not (faint or absent uptake, as in many lower-grade gliomas)
    gives no intensity to calibrate a rim threshold on. Brain is ``t1ce_z != 0`` (z-scored
    inside the brain mask, zero outside). NaN when either set is empty.
    """
    if not et.any():
        return float("nan")
    box = _box(wt, [int(np.ceil(SHELL_MM[1] / s)) for s in spacing])
    z = t1ce_z[box]
    dist = ndimage.distance_transform_edt(~wt[box], sampling=spacing)
    shell = (z != 0) & (dist > SHELL_MM[0]) & (dist <= SHELL_MM[1])
    if not shell.any():
        return float("nan")
    return float(np.median(t1ce_z[et]) - np.median(z[shell]))


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    """Otsu's threshold (max between-class variance) of 1D values."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2.0
    w0 = np.cumsum(hist).astype(float)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:][int(np.argmax(between[:-1]))])


def _threshold(
    z: np.ndarray, candidates: np.ndarray, et: np.ndarray, params: PostProcessing
) -> float:
    if params.et_rule == "quantile":
        return float(np.quantile(z[et], params.et_level))
    if params.et_rule == "otsu":
        return _otsu(z[candidates])
    if params.et_rule == "midpoint":
        rest = candidates & ~et
        if not rest.any():
            return float(np.quantile(z[et], 0.05))
        low, high = float(np.median(z[rest])), float(np.median(z[et]))
        return low + params.et_level * (high - low)
    raise ConfigurationError(
        f"unknown enhancement rule {params.et_rule!r}", "use midpoint, quantile or otsu"
    )


def refine_enhancing(
    regions: np.ndarray,
    p_et: np.ndarray,
    t1ce_z: np.ndarray,
    spacing: tuple[float, float, float],
    params: PostProcessing,
) -> np.ndarray:
    """Enhancing tumour re-read at full resolution from the T1ce intensities.

    Candidates are voxels of the predicted whole tumour within ``rim_margin_mm`` of the
    predicted core whose network ET probability is at least ``et_floor``. A candidate is
    enhancing when its T1ce z-score reaches a threshold set from the case's own intensities
    (``et_rule``: e.g. midway between the voxels the network calls enhancing and the other
    candidates), so no absolute intensity scale is assumed. ET ⊆ TC is restored by adding the
    new ET to the core. When the network finds no enhancing voxel there is nothing to
    calibrate on and ``regions`` is returned unchanged, as it is when ``min_enhancement_z``
    is set and the network's enhancing tumour is not that much brighter than the brain around.

    Args:
        regions: bool (3, X, Y, Z) WT, TC, ET after thresholding.
        p_et: (X, Y, Z) network ET probability on the same grid.
        t1ce_z: (X, Y, Z) T1ce z-scored inside the brain.
        spacing: voxel size (mm).
        params: margin, rule, level and probability floor.
    """
    et = regions[2] & regions[0]
    if not et.any():
        return regions
    if params.min_enhancement_z is not None:
        contrast = enhancement_contrast(regions[0], et, t1ce_z, spacing)
        if not contrast >= params.min_enhancement_z:  # NaN (no shell) also skips
            return regions
    # Candidates lie inside the whole tumour (TC and ET outside it are dropped when labels
    # are built), so work on its bounding box: ~20× less work than the whole grid.
    box = _box(regions[0], [0, 0, 0])
    wt, core, et, p, z = regions[0][box], regions[1][box], et[box], p_et[box], t1ce_z[box]
    near = core
    if params.rim_margin_mm > 0:
        # Distance in mm from the core (exact Euclidean, anisotropic voxels allowed).
        dist = ndimage.distance_transform_edt(~core, sampling=spacing)
        near = np.asarray(dist <= params.rim_margin_mm)
    candidates = near & wt & (p >= params.et_floor)
    tau = _threshold(z, candidates | et, et, params)
    new_et = candidates & (z >= tau)
    out = regions.copy()
    out[2] = False
    out[2][box] = new_et
    out[1][box] = core | new_et
    return out


def refine_whole_tumour(
    regions: np.ndarray,
    flair_z: np.ndarray,
    spacing: tuple[float, float, float],
    band_mm: float,
    level: float,
) -> np.ndarray:
    """The whole tumour's boundary re-read at full resolution from the FLAIR intensities.

    The network's 2 mm whole tumour, upsampled, places its edge to within a coarse voxel.
    Oedema and infiltrated tissue are FLAIR-hyperintense by definition (BraTS draws the whole
    tumour on FLAIR), so near the edge a voxel belongs to it when its FLAIR z-score reaches a
    case-relative threshold: ``level`` of the way from the median of the brain just outside
    (within ``band_mm``) up to the median of the tumour just inside. Inside voxels below it
    leave the whole tumour unless they are core; outside brain voxels (``flair_z != 0``)
    at or above it join it. Unchanged when either band is empty or the inside is not brighter
    than the outside (no FLAIR edge to lock on to).

    Args:
        regions: bool (3, X, Y, Z) WT, TC, ET.
        flair_z: (X, Y, Z) FLAIR z-scored inside the brain (zero outside).
        spacing: voxel size (mm).
        band_mm: how far on each side of the edge voxels may change.
        level: position of the threshold between the outer and the inner median.
    """
    wt = regions[0]
    if band_mm <= 0 or not wt.any():
        return regions
    box = _box(wt, [int(np.ceil(band_mm / s)) + 1 for s in spacing])
    inside, z = wt[box], flair_z[box]
    # Exact Euclidean distance in mm to the other side of the edge (anisotropic voxels allowed).
    inner = inside & (ndimage.distance_transform_edt(inside, sampling=spacing) <= band_mm)
    outer = ~inside & (z != 0)
    outer &= ndimage.distance_transform_edt(~inside, sampling=spacing) <= band_mm
    if not inner.any() or not outer.any():
        return regions
    low, high = float(np.median(z[outer])), float(np.median(z[inner]))
    if not high > low:
        return regions
    tau = low + level * (high - low)
    out = regions.copy()
    out[0][box] = (inside & ~(inner & (z < tau) & ~regions[1][box])) | (outer & (z >= tau))
    return out


def relabel_small_enhancing(labels: np.ndarray, voxel_mm3: float, min_mm3: float) -> np.ndarray:
    """Enhancing (4) becomes necrotic/non-enhancing core (1) when its total volume < min_mm3."""
    et = labels == Label.ENHANCING
    if min_mm3 <= 0 or float(et.sum()) * voxel_mm3 >= min_mm3:
        return labels
    out = labels.copy()
    out[et] = Label.NECROTIC
    return out


def labels_from_probabilities(
    probs: np.ndarray,
    thresholds: dict[str, float],
    spacing: tuple[float, float, float],
    *,
    t1ce_z: np.ndarray | None = None,
    flair_z: np.ndarray | None = None,
    params: PostProcessing | None = None,
) -> np.ndarray:
    """uint8 BraTS labels from (3, X, Y, Z) WT/TC/ET probabilities on the input grid.

    ``t1ce_z`` (the T1ce z-scored inside the brain, same grid) enables the ET refinement and
    ``flair_z`` the whole-tumour boundary refinement; without the image that step is skipped.
    """
    pp = params or PostProcessing()
    cut = np.asarray([thresholds["WT"], thresholds["TC"], thresholds["ET"]], dtype=np.float32)
    regions = keep_main_components(probs >= cut[:, None, None, None])
    if pp.refine_et and t1ce_z is not None:
        regions = refine_enhancing(regions, probs[2], t1ce_z, spacing, pp)
    if pp.wt_band_mm > 0 and flair_z is not None:
        regions = refine_whole_tumour(regions, flair_z, spacing, pp.wt_band_mm, pp.wt_level)
    labels = regions_to_labels(regions)
    voxel = float(np.prod(spacing))
    return relabel_small_enhancing(labels, voxel, pp.min_et_mm3)


#: The post-processing the shipped path runs (chosen by cross-validation; see the README).
SHIPPED = PostProcessing(
    refine_et=True,
    rim_margin_mm=2.0,
    et_rule="midpoint",
    et_level=0.3,
    et_floor=0.02,
    min_enhancement_z=0.5,
    wt_band_mm=1.0,
    wt_level=0.1,
)
