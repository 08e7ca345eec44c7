"""Volume <-> SimpleITK conversion: voxels, geometry and transform conventions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from braintwin.errors import InputError
from braintwin.preprocess.sitk_bridge import (
    FLIP,
    from_sitk,
    itk_transform_from_matrix,
    matrix_from_itk_transform,
    to_sitk,
)
from braintwin.types import Modality, Volume


def _rot(axis: int, deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    r = np.eye(3)
    i, j = [k for k in range(3) if k != axis]
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def oblique_affine() -> np.ndarray:
    """Non-RAS (axes permuted and flipped), oblique, anisotropic: a hard but valid header."""
    perm = np.array([[0.0, 0, -1], [-1, 0, 0], [0, 1, 0]])  # voxel axes -> S?, L, A-ish
    rot = _rot(0, 17.0) @ _rot(2, -9.0) @ perm
    a = np.eye(4)
    a[:3, :3] = rot @ np.diag([0.9, 1.3, 2.5])
    a[:3, 3] = [12.5, -40.0, 7.25]
    return a


AFFINES = {
    "ras": np.diag([1.0, 1.0, 1.0, 1.0]),
    "lps_brats": np.array([[-1.0, 0, 0, 0], [0, -1, 0, 239], [0, 0, 1, 0], [0, 0, 0, 1]]),
    "oblique": oblique_affine(),
}


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_round_trip_keeps_voxels_and_affine(name: str, rng: np.random.Generator) -> None:
    data = rng.integers(-100, 1000, size=(5, 7, 4)).astype(np.int16)
    vol = Volume(data, AFFINES[name], Modality.T2)
    img = to_sitk(vol)
    assert img.GetSize() == (5, 7, 4)  # ITK size is (x, y, z) like the Volume shape
    back = from_sitk(img, Modality.T2)
    np.testing.assert_array_equal(back.data, data)
    assert back.data.dtype == np.int16
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-9)


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_itk_physical_points_are_lps_of_volume_world(name: str) -> None:
    vol = Volume(np.zeros((5, 7, 4), np.float32), AFFINES[name])
    img = to_sitk(vol)
    for ijk in [(0, 0, 0), (4, 0, 0), (1, 6, 3), (2, 3, 1)]:
        ras = vol.index_to_world(ijk)
        lps = np.asarray(img.TransformIndexToPhysicalPoint([int(v) for v in ijk]))
        np.testing.assert_allclose(lps, FLIP[:3, :3] @ ras, atol=1e-9)


def test_voxel_value_lands_at_same_index() -> None:
    data = np.zeros((4, 5, 6), np.float32)
    data[3, 1, 4] = 7.0  # asymmetric position catches any axis swap
    img = to_sitk(Volume(data, AFFINES["oblique"]))
    assert img.GetPixel(3, 1, 4) == 7.0


def test_bool_becomes_uint8_and_float_kept() -> None:
    m = Volume(np.ones((2, 2, 2), bool), np.eye(4), Modality.MASK)
    assert to_sitk(m).GetPixelID() == sitk.sitkUInt8
    f = Volume(np.ones((2, 2, 2), np.float64), np.eye(4))
    assert to_sitk(f).GetPixelID() == sitk.sitkFloat64


def test_sheared_grid_is_refused() -> None:
    a = np.eye(4)
    a[0, 1] = 0.5  # shear: axes not orthogonal
    with pytest.raises(InputError, match="sheared"):
        to_sitk(Volume(np.zeros((2, 2, 2)), a))


def test_matrix_itk_round_trip_and_direction() -> None:
    m = np.eye(4)
    m[:3, :3] = _rot(1, 8.0) @ np.diag([1.1, 0.95, 1.0])
    m[:3, 3] = [4.0, -2.0, 3.0]
    tx = itk_transform_from_matrix(m)
    np.testing.assert_allclose(matrix_from_itk_transform(tx), m, atol=1e-9)
    # ITK maps fixed LPS -> moving LPS: take a moving RAS point p, its fixed point is m p.
    p = np.array([10.0, 20.0, -5.0, 1.0])
    q = m @ p
    back = np.asarray(tx.TransformPoint([float(v) for v in (FLIP @ q)[:3]]))
    np.testing.assert_allclose(back, (FLIP @ p)[:3], atol=1e-9)


def test_singular_matrix_is_refused() -> None:
    with pytest.raises(InputError):
        itk_transform_from_matrix(np.zeros((4, 4)))
