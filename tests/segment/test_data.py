"""Input preparation: robust z-score, crop boxes, down-sampling, BraTS loading."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.segment.data import (
    crop_box,
    extract,
    load_brats_case,
    paste,
    prepare_input,
    prepare_target,
    zscore_in_mask,
)
from braintwin.types.volume import Modality


def test_zscore_inside_mask_and_robust_to_outliers(rng: np.random.Generator) -> None:
    arr = rng.normal(100.0, 10.0, (20, 20, 20))
    mask = np.zeros(arr.shape, bool)
    mask[2:18, 2:18, 2:18] = True
    arr[3, 3, 3] = 32767.0  # the int16-maximum outliers of one BraTS case
    z = zscore_in_mask(arr, mask)
    inside = z[mask]
    assert abs(float(np.median(inside))) < 0.1
    assert 0.9 < float(inside.std()) < 1.1
    assert z[3, 3, 3] == 5.0  # clipped
    assert np.all(z[~mask] == 0)


def test_zscore_constant_image_is_treated_as_missing() -> None:
    mask = np.ones((4, 4, 4), bool)
    assert np.all(zscore_in_mask(np.full((4, 4, 4), 7.0), mask) == 0)


def test_crop_box_multiple_and_round_trip(rng: np.random.Generator) -> None:
    mask = np.zeros((30, 20, 10), bool)
    mask[3:25, 1:19, 2:9] = True
    box = crop_box(mask, (16, 16, 16))
    assert all((b[1] - b[0]) % 16 == 0 for b in box)
    arr = rng.random((2, 30, 20, 10)).astype(np.float32)
    crop = extract(arr, box)  # reaches outside the grid: zero-padded
    back = paste(crop, box, (30, 20, 10))
    inside = extract(np.ones((30, 20, 10)), box).astype(bool)
    assert crop.shape[1:] == tuple(int(b[1] - b[0]) for b in box)
    assert np.array_equal(paste(inside, box, (30, 20, 10)) * arr, back)
    assert np.array_equal(back[:, mask], arr[:, mask])


def test_prepare_input_halves_1mm_and_zero_fills_missing(rng: np.random.Generator) -> None:
    mask = np.zeros((40, 40, 40), bool)
    mask[5:35, 5:35, 5:35] = True
    flair = rng.normal(0, 1, mask.shape) * mask
    prep = prepare_input({Modality.FLAIR: flair}, mask, (1.0, 1.0, 1.0))
    assert prep.factors == (2, 2, 2)
    assert prep.x.shape == (4, 16, 16, 16)  # 30 voxels -> 32 (multiple of 32) -> 16 at 2 mm
    assert prep.present == (False, False, False, True)
    assert np.all(prep.x[:3] == 0) and np.any(prep.x[3] != 0)
    seg = np.zeros(mask.shape, np.uint8)
    seg[10:14, 10:14, 10:14] = 4
    y = prepare_target(seg, prep)
    assert y.shape == (3, 16, 16, 16)
    assert float(y[2].sum()) * 8 == pytest.approx(64)  # partial-volume fractions keep volume


def _write_case(root: Path, name: str, seg_values: tuple[int, ...] = (0, 2)) -> Path:
    case = root / name
    case.mkdir(parents=True)
    data = np.zeros((8, 8, 8), np.int16)
    data[2:6, 2:6, 2:6] = 100
    for m in ("t1ce", "flair"):
        nib.save(nib.Nifti1Image(data, np.eye(4)), case / f"{name}_{m}.nii.gz")
    seg = np.zeros((8, 8, 8), np.int16)
    seg[3, 3, 3] = seg_values[-1]
    nib.save(nib.Nifti1Image(seg, np.eye(4)), case / f"{name}_seg.nii.gz")
    return case


def test_load_brats_case_partial_modalities(tmp_path: Path) -> None:
    vols, seg = load_brats_case(_write_case(tmp_path, "C1"))
    assert set(vols) == {Modality.T1CE, Modality.FLAIR}
    assert seg is not None and seg.modality is Modality.SEG


def test_load_brats_case_rejects_bad_labels(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside the BraTS set"):
        load_brats_case(_write_case(tmp_path, "C2", (0, 3)))
