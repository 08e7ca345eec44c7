"""Coarsening onto the reduced grid: known answers for the mass- and volume-preserving form."""

from __future__ import annotations

import datetime as dt

import numpy as np

from braintwin.calibrate.grid import coarsen_preserving
from braintwin.types import Modality, Volume


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    n = [s // f for s in a.shape]
    return a.reshape(n[0], f, n[1], f, n[2], f).mean(axis=(1, 3, 5))


def test_one_voxel_plate_keeps_its_volume_above_the_level() -> None:
    """A 1 mm plate of density 1 on a 2 mm grid: block means are 0.5, below a 0.8 level."""
    fine = np.zeros((20, 20, 20), np.float32)
    fine[:, :, 7] = 1.0  # 400 voxels of 1 mm³
    assert (_block_mean(fine, 2) >= 0.8).sum() == 0
    coarse = coarsen_preserving(fine, (2, 2, 2))
    assert coarse.shape == (10, 10, 10)
    # 400 mm³ above the level: 50 coarse voxels of 8 mm³, all in the plate's slab.
    assert (coarse >= 0.8).sum() * 8 == 400
    assert np.isclose(coarse.sum() * 8, fine.sum())
    assert set(np.nonzero(coarse)[2]) == {3}


def test_smooth_density_matches_the_block_mean_where_it_is_uniform() -> None:
    fine = np.full((8, 8, 8), 0.3, np.float32)
    np.testing.assert_allclose(coarsen_preserving(fine, (2, 2, 2)), 0.3, rtol=1e-6)
    # Anisotropic factors (a thick-slice axis kept).
    ramp = np.broadcast_to(np.linspace(0.1, 0.9, 8, dtype=np.float32), (4, 6, 8)).copy()
    c = coarsen_preserving(ramp, (2, 3, 1))
    assert c.shape == (2, 2, 8)
    np.testing.assert_allclose(c.sum() * 6, ramp.sum(), rtol=1e-6)
    # The order of the block means is kept: the density still rises along the last axis.
    assert np.all(np.diff(c[0, 0]) > 0)


def test_random_density_keeps_mass_and_level_volumes() -> None:
    rng = np.random.default_rng(0)
    fine = np.clip(rng.normal(0.2, 0.4, (24, 24, 24)), 0, 1).astype(np.float32)
    coarse = coarsen_preserving(fine, (2, 2, 2))
    assert np.isclose(coarse.sum() * 8, fine.sum(), rtol=1e-5)
    for level in (0.25, 0.5, 0.8):
        fine_mm3 = float((fine >= level).sum())
        assert abs(float((coarse >= level).sum()) * 8 - fine_mm3) <= 8.0
    assert not coarsen_preserving(np.zeros((4, 4, 4), np.float32), (2, 2, 2)).any()


def test_thin_rim_tumour_starts_with_its_measured_core() -> None:
    """The reduced problem's day-0 state shows the segmented core (it read ~0 before)."""
    from braintwin.calibrate.forward import ReducedProblem
    from braintwin.growth import GrowthParameters

    shape = (64, 64, 64)
    zz, yy, xx = np.indices(shape)
    r = np.sqrt((zz - 32) ** 2 + (yy - 32) ** 2 + (xx - 32) ** 2)
    labels = np.zeros(shape, np.uint8)
    labels[r <= 9] = 2  # oedema
    labels[(r > 5) & (r <= 7)] = 4  # a 2 mm enhancing rim
    labels[r <= 5] = 1  # necrosis inside it
    aff = np.eye(4)
    seg = Volume(labels, aff, Modality.SEG)
    brain = Volume((r <= 30).astype(np.uint8), aff, Modality.MASK)
    prob = ReducedProblem.build(seg, brain, dt.date(2020, 1, 1), target_mm=4.0)
    u = prob.initial(GrowthParameters()).data
    voxel = float(np.prod(prob.grid.spacing))
    th = prob.thresholds
    core_ml = float((u >= th.enhancing).sum()) * voxel / 1000.0
    measured_ml = float(np.isin(labels, (1, 4)).sum()) / 1000.0
    assert abs(core_ml - measured_ml) <= 0.25 * measured_ml
