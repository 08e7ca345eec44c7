"""Dice and Hausdorff distances: known answers on cubes, reference vs fast form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from braintwin.segment.metrics import dice, hausdorff, hausdorff_reference, surface


def cube(shape: tuple[int, int, int], lo: int, hi: int) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[lo:hi, lo:hi, lo:hi] = True
    return m


def test_dice_concentric_cubes_exact() -> None:
    inner, outer = cube((24, 24, 24), 7, 17), cube((24, 24, 24), 2, 22)  # 10³ inside 20³
    assert dice(inner, outer) == pytest.approx(2 * 1000 / (1000 + 8000))


def test_dice_conventions() -> None:
    empty, one = np.zeros((4, 4, 4), bool), cube((4, 4, 4), 1, 3)
    assert dice(empty, empty) == 1.0
    assert dice(one, empty) == 0.0
    assert dice(one, one) == 1.0


def test_hausdorff_concentric_cubes_max_is_corner_gap() -> None:
    # Outer corner (2,2,2) is 5·√3 voxels from the inner corner (7,7,7); every inner surface
    # voxel is 5 from the outer faces, so the symmetric maximum is 5√3.
    inner, outer = cube((24, 24, 24), 7, 17), cube((24, 24, 24), 2, 22)
    assert hausdorff(inner, outer, percentile=100) == pytest.approx(5 * math.sqrt(3))
    assert hausdorff_reference(inner, outer, percentile=100) == pytest.approx(5 * math.sqrt(3))


@pytest.mark.parametrize("shift", [1, 3])
def test_hausdorff_shifted_cube_anisotropic(shift: int) -> None:
    a = cube((20, 20, 20), 4, 12)
    b = np.roll(a, shift, axis=2)
    spacing = (1.0, 1.0, 2.5)
    assert hausdorff(a, b, spacing, percentile=100) == pytest.approx(shift * 2.5)
    assert dice(a, b) == pytest.approx((8 - shift) / 8)


def test_fast_matches_reference_on_random_blobs(rng: np.random.Generator) -> None:
    for _ in range(4):
        a = ndimage.gaussian_filter(rng.random((18, 16, 14)), 2) > 0.5
        b = ndimage.gaussian_filter(rng.random((18, 16, 14)), 2) > 0.5
        if not a.any() or not b.any():
            continue
        sp = tuple(float(s) for s in rng.uniform(0.5, 2.0, 3))
        for q in (50.0, 95.0, 100.0):
            assert hausdorff(a, b, sp, q) == pytest.approx(hausdorff_reference(a, b, sp, q))


def test_hausdorff_empty_conventions() -> None:
    empty, one = np.zeros((6, 6, 6), bool), cube((6, 6, 6), 1, 4)
    assert hausdorff(empty, empty) == 0.0
    assert math.isinf(hausdorff(one, empty))
    assert math.isinf(hausdorff_reference(empty, one))


def test_surface_of_cube_is_its_shell() -> None:
    s = surface(cube((10, 10, 10), 2, 7))  # 5³ cube: 125 - 3³ interior = 98 shell voxels
    assert int(s.sum()) == 98
