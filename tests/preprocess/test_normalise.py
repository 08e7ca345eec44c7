"""Robust z-score inside the brain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.preprocess import brain_mask, zscore
from braintwin.types import Modality, Volume


def test_zscore_known_answer(rng: np.random.Generator) -> None:
    data = np.zeros((20, 20, 20), np.float32)
    data[5:15, 5:15, 5:15] = rng.normal(100.0, 10.0, size=(10, 10, 10))
    vol = Volume(data, np.eye(4), Modality.T2)
    mask = vol.with_data(data != 0, Modality.MASK)
    out = zscore(vol, mask, clip_percentiles=(0.0, 100.0))  # no clipping: plain z-score
    inside = out.data[mask.data]
    assert inside.mean() == pytest.approx(0.0, abs=1e-5)
    assert inside.std() == pytest.approx(1.0, abs=1e-5)
    assert np.all(out.data[~mask.data] == 0)
    expected = (data[mask.data] - data[mask.data].mean()) / data[mask.data].std()
    np.testing.assert_allclose(inside, expected, atol=1e-4)


def test_zscore_bounded_on_real_case_with_int16_tail(
    brats_dir: Path, loader: Callable[[Path, Modality], Volume]
) -> None:
    # Brats18_TCIA10_637_1 reaches the int16 maximum (32767) in every modality (DATA.md).
    case = brats_dir / "Brats18_TCIA10_637_1"
    vol = loader(case / f"{case.name}_t1ce.nii.gz", Modality.T1CE)
    assert int(vol.data.max()) == 32767
    mask = brain_mask(vol, skull_strip_mode="never")
    inside = zscore(vol, mask).data[mask.data]
    assert inside.std() == pytest.approx(1.0, rel=0.05)
    plain = zscore(vol, mask, clip_percentiles=(0.0, 100.0)).data[mask.data]
    # Clipping at the 99.5th percentile bounds the tail that the plain z-score keeps.
    assert plain.max() > 8.0
    assert inside.max() < 0.75 * plain.max()
    assert np.isfinite(inside).all()


def test_zscore_ignores_injected_outliers(
    brats_volumes: dict[Modality, Volume], rng: np.random.Generator
) -> None:
    vol = brats_volumes[Modality.T2]
    mask = brain_mask(vol, skull_strip_mode="never")
    clean = zscore(vol, mask).data
    # Synthetic corruption: 0.1 % of the brain voxels set to the int16 maximum.
    idx = np.flatnonzero(mask.data)
    hit = rng.choice(idx, size=idx.size // 1000, replace=False)
    bad = vol.data.copy()
    bad.flat[hit] = 32767
    corrupted = vol.with_data(bad)
    robust = zscore(corrupted, mask).data
    plain = zscore(corrupted, mask, clip_percentiles=(0.0, 100.0)).data
    keep = mask.data.copy()
    keep.flat[hit] = False
    err_robust = np.abs(robust[keep] - clean[keep]).mean()
    err_plain = np.abs(plain[keep] - clean[keep]).mean()
    assert err_robust < 0.05  # the normal tissue keeps its z-scores
    assert err_plain > 5 * err_robust


def test_zscore_bad_input() -> None:
    vol = Volume(np.ones((5, 5, 5), np.float32), np.eye(4), Modality.T1)
    with pytest.raises(InputError, match="empty"):
        zscore(vol, vol.with_data(np.zeros((5, 5, 5), bool)))
    with pytest.raises(InputError, match="constant"):
        zscore(vol, vol.with_data(np.ones((5, 5, 5), bool)))
    with pytest.raises(InputError, match="grid"):
        zscore(vol, Volume(np.ones((4, 5, 5), bool), np.eye(4)))
    with pytest.raises(InputError, match="percentiles"):
        zscore(vol, vol.with_data(np.ones((5, 5, 5), bool)), clip_percentiles=(50.0, 10.0))
