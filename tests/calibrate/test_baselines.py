"""Baselines, metrics and the reduced grid (synthetic known-answer volumes)."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.calibrate.baselines import (
    dice,
    expand_mask,
    expand_mask_reference,
    fit_expansion_rate,
    no_growth,
    uniform_expansion,
    volume_error,
)
from braintwin.calibrate.grid import make_reduced_grid
from braintwin.errors import InputError


def _ball(
    shape: tuple[int, int, int], c: tuple[float, ...], r_mm: float, sp: tuple[float, ...]
) -> np.ndarray:
    idx = np.indices(shape).astype(float)
    d2 = sum(((idx[a] - c[a]) * sp[a]) ** 2 for a in range(3))
    return d2 <= r_mm**2


def test_dice_and_volume_error_known_answers() -> None:
    a = np.zeros((10, 10, 10), bool)
    a[:5] = True
    b = np.zeros_like(a)
    b[:, :5] = True
    assert dice(a, a) == 1.0
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0
    assert volume_error(a, b) == 0.0
    assert volume_error(a[:, :, :], a & b) == pytest.approx(1.0)  # 500 vs 250 voxels
    with pytest.raises(InputError):
        dice(a, a[:5])


def test_expand_fast_matches_reference_anisotropic(rng: np.random.Generator) -> None:
    m = rng.random((9, 8, 5)) > 0.93
    sp = (1.0, 1.0, 5.0)
    for dist in (0.0, 1.5, 4.0, 6.0):
        np.testing.assert_array_equal(expand_mask(m, dist, sp), expand_mask_reference(m, dist, sp))


def test_uniform_expansion_of_a_ball_is_a_bigger_ball() -> None:
    sp = (1.0, 1.0, 1.0)
    shape = (41, 41, 41)
    small = _ball(shape, (20, 20, 20), 5.0, sp)
    grown = uniform_expansion(small, days=10, rate_mm_per_day=0.5, spacing=sp)
    big = _ball(shape, (20, 20, 20), 10.0, sp)
    assert dice(grown, big) > 0.93  # voxelisation of both balls costs a few %
    np.testing.assert_array_equal(no_growth(small), small)
    with pytest.raises(InputError):
        uniform_expansion(small, days=-1, rate_mm_per_day=0.5, spacing=sp)


def test_fit_expansion_rate_recovers_a_known_rate() -> None:
    sp = (1.0, 1.0, 2.0)
    shape = (48, 48, 24)
    pairs = []
    for r0, days in ((5.0, 20.0), (8.0, 40.0)):
        pre = _ball(shape, (24, 24, 12), r0, sp)
        post = expand_mask(pre, 0.2 * days, sp)
        pairs.append((pre, post, days, sp))
    assert fit_expansion_rate(pairs) == pytest.approx(0.2, abs=0.011)
    with pytest.raises(InputError):
        fit_expansion_rate([])


def test_reduced_grid_reduce_expand_roundtrip() -> None:
    shape = (40, 40, 12)
    aff = np.diag([1.0, 1.0, 5.0, 1.0])
    brain = np.ones(shape, bool)
    tumour = _ball(shape, (20, 20, 6), 6.0, (1.0, 1.0, 5.0))
    g = make_reduced_grid([tumour], brain, aff, margin_mm=4.0)
    assert g.factors == (2, 2, 1)
    assert g.spacing == (2.0, 2.0, 5.0)
    frac = g.reduce(tumour)
    # Mass (tumour voxels) is conserved by block averaging.
    assert frac.sum() * 4 == pytest.approx(tumour.sum())
    back = g.expand(frac) >= 0.5
    assert dice(back, tumour) > 0.9
    # World coordinates of the coarse grid agree with the fine grid.
    c = np.array([1, 1, 0, 1.0])
    fine_idx = np.array([g.box[0].start + 2.5, g.box[1].start + 2.5, g.box[2].start, 1.0])
    np.testing.assert_allclose(g.affine @ c, aff @ fine_idx)
    with pytest.raises(InputError):
        make_reduced_grid([np.zeros(shape, bool)], brain, aff, margin_mm=4.0)
