"""Reorientation, resampling, world transforms and field-of-view overlap (synthetic volumes)."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.preprocess import (
    apply_transform,
    bbox_overlap,
    grid_volume,
    reorient_ras,
    resample,
    world_bbox,
)
from braintwin.types import Modality, Volume

LPS = np.array([[-1.0, 0, 0, 30], [0, -1, 0, 40], [0, 0, 1, -5], [0, 0, 0, 1]])


def _oblique() -> np.ndarray:
    a = np.radians(20.0)
    rot = np.array([[0.0, 0, 1], [np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([2.0, 1.0, 1.5])
    aff[:3, 3] = [5.0, -3.0, 8.0]
    return aff


@pytest.mark.parametrize("affine", [LPS, _oblique()], ids=["lps", "oblique"])
def test_reorient_ras_is_exact_and_keeps_world(
    affine: np.ndarray, rng: np.random.Generator
) -> None:
    vol = Volume(rng.normal(size=(6, 5, 4)).astype(np.float32), affine, Modality.T1)
    ras = reorient_ras(vol)
    assert ras.orientation == "RAS"
    assert sorted(ras.shape) == sorted(vol.shape)
    # Every voxel keeps its value at the same world position.
    idx = np.argwhere(np.ones(vol.shape, bool))
    world = vol.index_to_world(idx)
    new_idx = np.rint(ras.world_to_index(world)).astype(int)
    np.testing.assert_allclose(ras.world_to_index(world), new_idx, atol=1e-9)
    np.testing.assert_array_equal(ras.data[tuple(new_idx.T)], vol.data[tuple(idx.T)])
    assert reorient_ras(ras) is ras  # idempotent, no copy


def test_resample_halves_resolution_and_keeps_a_cube_volume() -> None:
    data = np.zeros((40, 40, 40), np.float32)
    data[10:30, 10:30, 10:30] = 1.0  # a 20 mm cube = 8000 mm^3 at 1 mm
    vol = Volume(data, LPS, Modality.T1)
    out = resample(vol, (2.0, 2.0, 2.0))
    assert out.shape == (20, 20, 20)
    assert out.spacing == pytest.approx((2.0, 2.0, 2.0))
    assert out.orientation == vol.orientation
    assert float(out.data.sum()) * out.voxel_volume_mm3 == pytest.approx(8000.0, rel=0.02)
    # Field of view edges are preserved.
    np.testing.assert_allclose(world_bbox(out), world_bbox(vol), atol=1e-6)


def test_resample_labels_nearest_keeps_label_set(rng: np.random.Generator) -> None:
    seg = np.zeros((30, 30, 30), np.uint8)
    seg[5:20, 5:20, 5:20] = 2
    seg[8:14, 8:14, 8:14] = 4
    seg[9:11, 9:11, 9:11] = 1
    vol = Volume(seg, np.eye(4), Modality.SEG)
    out = resample(vol, (0.7, 1.3, 1.0))
    assert out.data.dtype == np.uint8
    assert set(np.unique(out.data)) <= {0, 1, 2, 4}
    # Volume of label 2 region (incl. inner labels) preserved within a voxel layer.
    assert np.count_nonzero(out.data) * out.voxel_volume_mm3 == pytest.approx(15**3, rel=0.08)


def test_resample_to_reference_grid_and_noop() -> None:
    vol = Volume(np.arange(27, dtype=np.float32).reshape(3, 3, 3), np.eye(4))
    assert resample(vol, (1, 1, 1)) is vol
    ref = grid_volume(LPS, (4, 4, 4))
    out = resample(vol, reference=ref)
    assert out.same_grid(ref)
    with pytest.raises(InputError, match="spacing"):
        resample(vol, (0.0, 1.0, 1.0))
    with pytest.raises(InputError, match="order"):
        resample(vol, (2, 2, 2), order=2)


def test_apply_transform_integer_translation_shifts_voxels(rng: np.random.Generator) -> None:
    data = rng.normal(size=(12, 10, 8)).astype(np.float32)
    vol = Volume(data, np.eye(4), Modality.T2)
    m = np.eye(4)
    m[:3, 3] = [2.0, -1.0, 3.0]  # moving world -> fixed world: content moves by +2, -1, +3 mm
    out = apply_transform(vol, m, vol)
    np.testing.assert_allclose(out.data[2:, :-1, 3:], data[:-2, 1:, :-3], atol=1e-5)
    assert np.all(out.data[:2] == 0)  # outside the moved field of view: 0
    # Identity on the same grid is a no-op (no interpolation).
    assert apply_transform(vol, np.eye(4), vol) is vol


def test_apply_transform_rotation_is_inverse_of_its_inverse(rng: np.random.Generator) -> None:
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, 24),) * 3, indexing="ij")
    blob = np.exp(-((x - 0.2) ** 2 + y**2 * 2 + (z + 0.1) ** 2) * 4).astype(np.float32)
    vol = Volume(blob, np.diag([2.0, 2.0, 2.0, 1.0]), Modality.T1)
    a = np.radians(10)
    m = np.eye(4)
    m[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
    there = apply_transform(vol, m, vol)
    back = apply_transform(there, np.linalg.inv(m), vol)
    assert np.abs(back.data - blob)[6:-6, 6:-6, 6:-6].max() < 0.05


def test_bbox_overlap_known_values() -> None:
    a = Volume(np.zeros((10, 10, 10)), np.eye(4))
    shifted = np.eye(4)
    shifted[0, 3] = 5.0
    b = Volume(np.zeros((10, 10, 10)), shifted)
    assert bbox_overlap(world_bbox(a), world_bbox(b)) == pytest.approx(0.5)
    slab = Volume(np.zeros((10, 10, 2)), np.eye(4))
    assert bbox_overlap(world_bbox(a), world_bbox(slab)) == pytest.approx(1.0)
    far = np.eye(4)
    far[:3, 3] = 100.0
    assert bbox_overlap(world_bbox(a), world_bbox(Volume(np.zeros((3, 3, 3)), far))) == 0.0
    # The box of a moved grid follows the matrix.
    np.testing.assert_allclose(world_bbox(a, shifted), world_bbox(b))
