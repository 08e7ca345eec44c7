"""Slices of a twin visit: blankness, slice choice on z-scored skull-stripped volumes, export."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.classify.intensity import LEVELS, load_reference, match_to_reference
from braintwin.classify.preprocess import is_blank, prepare_slice
from braintwin.classify.volume_slices import (
    choose_slices,
    export_slices,
    foreground_mask,
    signal_of,
)
from braintwin.errors import InputError
from braintwin.types import Modality, Volume


def _zscored_visit(rng: np.random.Generator, tumour: bool) -> tuple[Volume, Volume, Volume | None]:
    """A twin-like visit: brain z-scored inside its mask, exactly 0 outside (mid-grey!)."""
    n, nz = 64, 40
    x, y, z = np.mgrid[:n, :n, :nz]
    brain = ((x - 32) / 24) ** 2 + ((y - 32) / 28) ** 2 + ((z - 20) / 14) ** 2 < 1
    data = np.where(brain, rng.normal(0.0, 1.0, brain.shape), 0.0).astype(np.float32)
    seg = None
    if tumour:
        blob = ((x - 40) ** 2 + (y - 30) ** 2 + (z - 24) ** 2 < 36) & brain
        data[blob] += 3.0
        lab = np.zeros(brain.shape, np.uint8)
        lab[blob] = 4
        seg = Volume(lab, np.eye(4), Modality.SEG)
    return (
        Volume(data, np.eye(4), Modality.T1CE),
        Volume(brain.astype(np.uint8), np.eye(4), Modality.MASK),
        seg,
    )


def test_is_blank_is_robust_to_outliers_and_not_fooled_by_dark_images() -> None:
    assert is_blank(np.full((64, 64), 7.0))
    spikes = np.zeros((64, 64))
    spikes[[1, 5, 9], [2, 6, 30]] = 32767.0  # a few hot pixels do not make an image
    assert is_blank(spikes)
    dark = np.zeros((224, 224))
    dark[100:130, 90:140] = np.linspace(1, 3, 50)  # a small, dim head
    assert not is_blank(dark)
    # z-scored slice: background 0 is the brain's mean, the brain has both signs
    zs = np.zeros((64, 64))
    zs[10:50, 12:52] = np.random.default_rng(0).normal(size=(40, 40))
    assert not is_blank(zs)
    # inside a mask: constant inside, structure only outside -> blank
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    outside = np.where(mask, 1.0, np.random.default_rng(1).normal(size=(64, 64)))
    assert is_blank(outside, mask) and not is_blank(outside)


def test_prepare_slice_blank_message() -> None:
    spikes = np.zeros((50, 50))
    spikes[3, 4] = 900.0
    with pytest.raises(InputError, match="blank"):
        prepare_slice(spikes)


def test_t1_only_zscored_visit_chooses_brain_slices_not_empty_ones(
    rng: np.random.Generator,
) -> None:
    """Regression: the head-area rule counted the 0 background of a z-scored volume as head
    (0 is above the brain's low percentiles), chose empty slices and said "image is blank"."""
    vol, mask, _ = _zscored_visit(rng, tumour=False)
    choice, data, fov = choose_slices(vol, None, mask)
    assert choice.rule.startswith("brain area")
    brain_slices = np.flatnonzero(mask.data.any(axis=(0, 1)))
    assert set(choice.indices) <= set(brain_slices.tolist())
    assert 20 in choice.indices  # the largest cross-section
    for img in export_slices(data, fov, choice.indices):
        assert not is_blank(img)
        assert img[0, 0] == 0.0  # outside the brain is black, not the z-score mean
        prepare_slice(img)  # no "blank" error


def test_tumour_slices_and_grid_check(rng: np.random.Generator) -> None:
    vol, mask, seg = _zscored_visit(rng, tumour=True)
    assert seg is not None
    choice, _, _ = choose_slices(vol, seg, mask)
    assert choice.rule == "tumour area"
    assert set(choice.indices) <= set(range(19, 30)) and 24 in choice.indices
    assert choice.weights.sum() == pytest.approx(1.0)
    bad = Volume(np.zeros((10, 10, 10), np.uint8), np.eye(4), Modality.SEG)
    with pytest.raises(InputError, match="shape"):
        choose_slices(vol, bad, mask)


def test_blank_volume_is_refused_inside_the_brain() -> None:
    data = np.full((20, 20, 10), 5.0, np.float32)
    data[0, 0, 0] = 40.0  # one outlier
    vol = Volume(data, np.eye(4), Modality.T1)
    with pytest.raises(InputError, match="blank"):
        choose_slices(vol, None, None)


def test_foreground_mask_recognises_a_constant_nonzero_background() -> None:
    data = np.full((30, 30, 12), -1.7, np.float32)  # z-scored export: background not 0
    data[8:22, 8:22, 3:9] = np.linspace(-1.0, 3.0, 14)[None, :, None]
    fg = foreground_mask(data)
    assert fg[15, 15, 5] and not fg[2, 2, 2]
    assert not fg[:, :, 0].any()


def test_quantile_matching_reaches_the_reference(rng: np.random.Generator) -> None:
    ref = load_reference()
    assert ref.shape == LEVELS.shape and np.all(np.diff(ref) >= 0)
    assert ref[0] >= 0.0 and ref[-1] <= 1.0
    data = rng.gamma(2.0, 3.0, (40, 40, 4)).astype(np.float32)
    data[0, 0, 0] = 32767.0  # an int16-maximum outlier must not set the contrast
    mask = np.ones(data.shape, bool)
    mask[:5] = False
    out = match_to_reference(data, mask)
    assert np.all(out[~mask] == 0.0)
    got = np.percentile(out[mask], [10, 50, 90])
    want = np.interp([10, 50, 90], LEVELS, ref)
    np.testing.assert_allclose(got, want, atol=0.02)
    # monotone: brighter voxels stay brighter
    order = np.argsort(data[mask])
    assert np.all(np.diff(out[mask][order]) >= -1e-6)


def test_random_twin_view_strips_and_matches() -> None:
    import torch

    from braintwin.classify.augment import random_twin_view

    yy, xx = np.mgrid[:128, :128]
    head = ((yy - 64) / 56) ** 2 + ((xx - 64) / 48) ** 2 < 1
    rim = head & ~(((yy - 64) / 48) ** 2 + ((xx - 64) / 40) ** 2 < 1)
    img = np.where(head, 0.35 + 0.1 * np.sin(xx / 5.0), 0.0)
    img[rim] = 1.0  # bright scalp fat, as in the training JPEGs
    x = torch.from_numpy(img.astype(np.float32))[None, None].repeat(3, 1, 1, 1)
    y = random_twin_view(x, torch.Generator().manual_seed(0), p=1.0)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    out = y[0, 0].numpy()
    assert out[0, 0] == 0.0 and out[64, 64] > 0.0
    brain = out[out > 0]
    ref = load_reference()
    assert abs(float(np.median(brain)) - float(np.interp(50, LEVELS, ref))) < 0.05
    same = random_twin_view(x, torch.Generator().manual_seed(0), p=0.0)
    assert torch.equal(same, x)


def test_signal_of_undoes_the_twin_zscore(rng: np.random.Generator) -> None:
    """The twin records the z-score's mean and SD; the export restores zero signal = black."""
    vol, mask, _ = _zscored_visit(rng, tumour=False)
    raw = Volume(vol.data, vol.affine, vol.modality, meta={"zscore": {"mean": 50.0, "std": 10.0}})
    choice, data, fov = choose_slices(raw, None, mask)
    sig = signal_of(raw, data, fov)
    assert sig is not None
    inside = fov & (data > -4.0)
    np.testing.assert_allclose(sig[inside], data[inside] * 10.0 + 50.0, rtol=1e-5)
    assert np.all(sig[~fov] == 0.0) and sig.min() >= 0.0
    img = export_slices(data, fov, choice.indices, sig)[0]
    assert img[0, 0] == 0.0 and float(np.median(img[img > 0])) == pytest.approx(50.0, abs=2.0)
    assert signal_of(vol, data, fov) is None  # no record: quantile matching instead
