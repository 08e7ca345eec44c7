"""Source-independent slice preparation and radiological slicing of volumes."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.classify.preprocess import axial_slice_ras, foreground_bbox, prepare_slice
from braintwin.errors import InputError
from braintwin.types import Volume


def _head(n: int = 96, rng: np.random.Generator | None = None) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    img = np.where(((yy - n / 2) / 0.9) ** 2 + ((xx - n / 2) / 0.7) ** 2 < n**2 / 4, 100.0, 2.0)
    img[(yy - 0.4 * n) ** 2 + (xx - 0.55 * n) ** 2 < (0.08 * n) ** 2] = 200.0
    if rng is not None:
        img = img + rng.normal(0, 1.0, img.shape)
    return img.astype(np.float32)


def test_output_shape_range_and_contrast(rng: np.random.Generator) -> None:
    out = prepare_slice(_head(rng=rng), 64)
    assert out.shape == (64, 64) and out.dtype == np.uint8
    assert out.max() >= 250 and out.min() <= 5  # full 0..255 range used


def test_intensity_scale_and_offset_do_not_matter(rng: np.random.Generator) -> None:
    img = _head(rng=rng)
    a = prepare_slice(img, 64).astype(int)
    b = prepare_slice(img * 37.5 + 1000.0, 64).astype(int)  # e.g. a 16-bit scanner range
    assert np.abs(a - b).max() <= 1


def test_black_border_is_cropped(rng: np.random.Generator) -> None:
    img = _head(rng=rng)
    padded = np.pad(img, ((40, 10), (25, 60)), constant_values=float(img.min()))
    a = prepare_slice(img, 64).astype(float)
    b = prepare_slice(padded, 64).astype(float)
    # Same anatomy at the same place after cropping: images agree up to resampling.
    assert np.mean(np.abs(a - b)) < 6.0


def test_foreground_bbox_finds_object() -> None:
    img = np.zeros((100, 120), dtype=np.float32)
    img[20:60, 30:100] = 1.0
    r0, r1, c0, c1 = foreground_bbox(img)
    m = round(0.02 * 70)
    assert (r0, r1, c0, c1) == (20 - m, 60 + m, 30 - m, 100 + m)


def test_blank_and_bad_shapes() -> None:
    with pytest.raises(InputError, match="blank"):
        prepare_slice(np.full((64, 64), 7.0))
    with pytest.raises(InputError, match="2D"):
        prepare_slice(np.zeros((4, 64, 64)))
    bad = np.ones((64, 64))
    bad[3, 3] = np.inf
    with pytest.raises(InputError, match="NaN"):
        prepare_slice(bad)


def test_axial_slice_is_radiological_for_any_orientation() -> None:
    data = np.zeros((5, 6, 3), dtype=np.float32)
    data[4, 5, 1] = 1.0  # RAS voxel at most-right, most-anterior, middle slice
    ras = Volume(data, np.eye(4))
    s = axial_slice_ras(ras, 1)
    assert s.shape == (6, 5)
    assert s[0, 0] == 1.0  # anterior at the top, patient right on the image left
    # The same anatomy stored LPS (x and y voxel axes flipped) gives the same slice.
    lps_aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    lps_aff[:3, 3] = [4.0, 5.0, 0.0]
    lps = Volume(data[::-1, ::-1, :].copy(), lps_aff)
    np.testing.assert_array_equal(axial_slice_ras(lps, 1), s)
    with pytest.raises(InputError, match="outside"):
        axial_slice_ras(ras, 3)
