"""Known answers for the post-processing path: small-ET relabelling and 1 mm ET refinement."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from braintwin.segment.metrics import dice
from braintwin.segment.postprocess import (
    PostProcessing,
    enhancement_contrast,
    labels_from_probabilities,
    refine_enhancing,
    refine_whole_tumour,
    relabel_small_enhancing,
)
from braintwin.types.labels import Label

THR = {"WT": 0.4, "TC": 0.5, "ET": 0.4}  # the shipped ensemble's


def _labels_with_et_blob(n_et: int) -> np.ndarray:
    labels = np.zeros((30, 30, 30), dtype=np.uint8)
    labels[5:25, 5:25, 5:25] = Label.EDEMA
    labels[10:20, 10:20, 10:20] = Label.NECROTIC
    flat = np.flatnonzero(labels == Label.NECROTIC)[:n_et]
    labels.flat[flat] = Label.ENHANCING
    return labels


def test_small_enhancing_blob_becomes_core() -> None:
    labels = _labels_with_et_blob(5)
    out = relabel_small_enhancing(labels, voxel_mm3=1.0, min_mm3=100.0)
    assert not (out == Label.ENHANCING).any()
    # The 5 voxels became core; nothing else changed.
    assert (out == Label.NECROTIC).sum() == (labels == Label.NECROTIC).sum() + 5
    assert ((out == Label.EDEMA) == (labels == Label.EDEMA)).all()


def test_large_enhancing_blob_stays() -> None:
    labels = _labels_with_et_blob(500)
    out = relabel_small_enhancing(labels, voxel_mm3=1.0, min_mm3=100.0)
    assert (out == labels).all()
    # The threshold is on volume in mm³: the same 500 voxels at 0.1 mm³ are 50 mm³.
    small = relabel_small_enhancing(labels, voxel_mm3=0.1, min_mm3=100.0)
    assert not (small == Label.ENHANCING).any()


def test_threshold_zero_is_off() -> None:
    labels = _labels_with_et_blob(1)
    assert (relabel_small_enhancing(labels, 1.0, 0.0) == labels).all()


def _rim_phantom() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """1 mm sphere: necrotic centre (r < 10), 2.5 mm enhancing rim, edema shell to r = 16.

    The network's view is simulated as a good 2 mm network's: the true region fractions
    averaged into 2 mm voxels (the sphere's centre off the 2 mm grid), smoothed by half a 2 mm
    voxel, upsampled trilinearly as the shipped path does. T1ce z-scores: rim 3, necrosis
    -0.5, edema 0, plus noise.
    """
    n = 48
    g = np.indices((n, n, n)) - (n - 1) / 2.0 - 0.5
    r = np.sqrt((g**2).sum(0))
    ref = np.zeros((n, n, n), dtype=np.uint8)
    ref[r < 16] = Label.EDEMA
    ref[r < 12.5] = Label.ENHANCING
    ref[r < 10] = Label.NECROTIC
    rng = np.random.default_rng(0)
    z = np.where(ref == Label.ENHANCING, 3.0, np.where(ref == Label.NECROTIC, -0.5, 0.0))
    z = (z + 0.3 * rng.standard_normal(z.shape)).astype(np.float32)
    regions = np.stack([ref > 0, np.isin(ref, (1, 4)), ref == 4]).astype(np.float32)
    low = regions.reshape(3, n // 2, 2, n // 2, 2, n // 2, 2).mean(axis=(2, 4, 6))
    low = ndimage.gaussian_filter(low, sigma=(0, 0.5, 0.5, 0.5))
    up = torch.nn.functional.interpolate(
        torch.from_numpy(low)[None], scale_factor=2, mode="trilinear", align_corners=False
    )[0].numpy()
    return ref, up, z, r


def test_refinement_recovers_thin_bright_rim() -> None:
    ref, probs, z, _ = _rim_phantom()
    truth = ref == Label.ENHANCING
    coarse = labels_from_probabilities(probs, THR, (1.0, 1.0, 1.0), t1ce_z=z)
    fine = labels_from_probabilities(
        probs,
        THR,
        (1.0, 1.0, 1.0),
        t1ce_z=z,
        params=PostProcessing(refine_et=True, rim_margin_mm=2.0),
    )
    d_coarse = dice(coarse == Label.ENHANCING, truth)
    d_fine = dice(fine == Label.ENHANCING, truth)
    assert d_fine > 0.95
    assert d_fine > d_coarse + 0.05
    # Nesting holds: every enhancing voxel is core, every core voxel is whole tumour.
    assert not ((fine == Label.ENHANCING) & ~np.isin(fine, (1, 4))).any()


def test_refinement_skipped_without_t1ce_or_without_enhancement() -> None:
    ref, probs, z, _ = _rim_phantom()
    on = PostProcessing(refine_et=True)
    plain = labels_from_probabilities(probs, THR, (1.0, 1.0, 1.0))
    assert (labels_from_probabilities(probs, THR, (1.0, 1.0, 1.0), params=on) == plain).all()
    regions = np.stack([ref > 0, np.isin(ref, (1, 4)), np.zeros(ref.shape, bool)])
    out = refine_enhancing(regions, probs[2], z, (1.0, 1.0, 1.0), on)
    assert (out == regions).all()


def test_enhancement_contrast_known_answer() -> None:
    # Whole tumour a 10³ cube, its enhancing part at z 2; brain 2-6 mm outside at z 0.5; the
    # brain beyond 6 mm at z 5 and the voxels just outside the tumour at z 9 must not count.
    z = np.full((40, 40, 40), 5.0, dtype=np.float32)
    wt = np.zeros(z.shape, bool)
    wt[15:25, 15:25, 15:25] = True
    dist = ndimage.distance_transform_edt(~wt)
    z[(dist > 2) & (dist <= 6)] = 0.5
    z[(dist > 0) & (dist <= 2)] = 9.0
    et = np.zeros_like(wt)
    et[15:18, 15:25, 15:25] = True
    z[et] = 2.0
    assert enhancement_contrast(wt, et, z, (1.0, 1.0, 1.0)) == 1.5
    # Outside the brain (z exactly 0) is not tissue: the median stays that of the brain.
    z[:, :, 27:] = 0.0
    assert enhancement_contrast(wt, et, z, (1.0, 1.0, 1.0)) == 1.5
    assert np.isnan(enhancement_contrast(wt, np.zeros_like(et), z, (1.0, 1.0, 1.0)))


def test_refinement_gated_on_enhancement_brighter_than_brain() -> None:
    _, probs, z, _ = _rim_phantom()
    spacing = (1.0, 1.0, 1.0)
    base = PostProcessing(refine_et=True, rim_margin_mm=2.0)
    coarse = labels_from_probabilities(probs, THR, spacing, t1ce_z=z)
    fine = labels_from_probabilities(probs, THR, spacing, t1ce_z=z, params=base)
    # The phantom's rim is ~3 z brighter than the brain around it: a gate below that refines
    # exactly as without a gate, a gate above it leaves the network's enhancing tumour.
    low = PostProcessing(refine_et=True, rim_margin_mm=2.0, min_enhancement_z=2.0)
    high = PostProcessing(refine_et=True, rim_margin_mm=2.0, min_enhancement_z=4.0)
    assert (labels_from_probabilities(probs, THR, spacing, t1ce_z=z, params=low) == fine).all()
    assert (labels_from_probabilities(probs, THR, spacing, t1ce_z=z, params=high) == coarse).all()
    assert not (fine == coarse).all()


def _wt_phantom(shift: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FLAIR z 2 inside a true whole tumour of radius 10 voxels, 0.5 in the brain (r < 20), 0
    outside it; the predicted whole tumour is the same sphere moved by ``shift`` voxels (too
    far out on one side, too far in on the other), its core of radius 5."""
    g = np.indices((48, 48, 48)).astype(float) - 24.0
    r = np.sqrt((g**2).sum(0))
    moved = np.sqrt(((g - np.asarray(shift, float)[:, None, None, None]) ** 2).sum(0))
    flair = np.where(r < 10, 2.0, np.where(r < 20, 0.5, 0.0))
    regions = np.stack([moved < 10, moved < 5, moved < 3])
    return regions, flair, r < 10


def test_whole_tumour_boundary_moves_to_the_flair_edge() -> None:
    sp = (1.0, 1.0, 1.0)
    for shift in ((1, 0, 0), (0, -1, 1)):
        regions, flair, truth = _wt_phantom(shift)
        out = refine_whole_tumour(regions, flair, sp, band_mm=1.0, level=0.3)
        assert dice(out[0], truth) > dice(regions[0], truth)
        # one layer moves: within 1 mm of the predicted edge the edge is the FLAIR edge
        ring = ndimage.binary_dilation(regions[0]) & ~ndimage.binary_erosion(regions[0])
        assert np.array_equal(out[0][ring], truth[ring])
        assert np.array_equal(out[0][~ring], regions[0][~ring])  # nothing beyond the band
        assert np.array_equal(out[1:], regions[1:])  # core and enhancing untouched


def test_whole_tumour_refinement_keeps_core_brain_and_flat_images() -> None:
    sp = (1.0, 1.0, 1.0)
    regions, flair, _ = _wt_phantom((1, 0, 0))
    # inside no brighter than outside: no FLAIR edge to lock on to, unchanged
    flat = refine_whole_tumour(regions, np.where(flair > 0, 0.5, 0.0), sp, 1.0, 0.3)
    assert np.array_equal(flat, regions)
    # core voxels at the edge stay tumour however dark (the far side still grows)
    cored = regions.copy()
    cored[1] = regions[0]
    kept = refine_whole_tumour(cored, flair, sp, 1.0, 0.3)[0]
    assert not (regions[0] & ~kept).any() and (kept & ~regions[0]).any()
    # outside the brain (z == 0) nothing joins the tumour
    brainless = np.where(flair == 2.0, 2.0, 0.0)
    grown = refine_whole_tumour(regions, np.where(brainless > 0, 2.0, 0.0), sp, 2.0, 0.3)
    assert not (grown[0] & (brainless == 0) & ~regions[0]).any()
    # off (band 0), and skipped without FLAIR by the shipped path's entry point
    assert refine_whole_tumour(regions, flair, sp, 0.0, 0.3) is regions
    probs = regions.astype(np.float32)
    pp = PostProcessing(wt_band_mm=1.0)
    assert np.array_equal(
        labels_from_probabilities(probs, THR, sp, params=pp),
        labels_from_probabilities(probs, THR, sp),
    )


def test_whole_tumour_band_is_in_millimetres() -> None:
    # The pole one voxel outside the true edge leaves the tumour, unless its outside
    # neighbour is 2 mm away (a 2 mm axis) and the band is 1 mm.
    for axis, pole in ((0, (34, 24, 24)), (1, (24, 34, 24))):
        shift = tuple(int(a == axis) for a in range(3))
        regions, flair, truth = _wt_phantom(shift)  # type: ignore[arg-type]
        assert regions[0][pole] and not truth[pole]
        iso = refine_whole_tumour(regions, flair, (1.0, 1.0, 1.0), band_mm=1.0, level=0.3)
        aniso = refine_whole_tumour(regions, flair, (2.0, 1.0, 1.0), band_mm=1.0, level=0.3)
        assert not iso[0][pole]
        assert aniso[0][pole] == (axis == 0)
