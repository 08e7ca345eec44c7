"""Geometry kernels: fast (convex hull) vs reference (all pairs) and analytic answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from braintwin.measure.geometry import (
    axial_axis,
    chord_perpendicular,
    chord_perpendicular_reference,
    farthest_pair,
    farthest_pair_reference,
    max_pairwise_distance,
    max_pairwise_distance_reference,
    surface_corners_mm,
)


@pytest.mark.parametrize("n", [2, 5, 65, 400, 3000])
def test_fast_matches_reference_on_random_clouds(rng: np.random.Generator, n: int) -> None:
    pts = rng.normal(size=(n, 3)) * [30.0, 10.0, 5.0]
    assert max_pairwise_distance(pts) == pytest.approx(
        max_pairwise_distance_reference(pts), rel=1e-12
    )
    i, j, d = farthest_pair(pts)
    assert np.linalg.norm(pts[i] - pts[j]) == pytest.approx(d)


def test_fast_matches_reference_on_flat_sets(rng: np.random.Generator) -> None:
    # Coplanar (a single slice) and collinear sets make Qhull fail without joggling.
    plane = np.c_[rng.uniform(0, 50, size=(500, 2)), np.full(500, 7.0)]
    line = np.outer(rng.uniform(-20, 20, size=300), [1.0, 2.0, -0.5])
    grid2d = np.argwhere(np.ones((30, 30))).astype(float)
    for pts in (plane, line, grid2d):
        assert max_pairwise_distance(pts) == pytest.approx(max_pairwise_distance_reference(pts))


def test_degenerate_point_counts() -> None:
    assert max_pairwise_distance(np.zeros((0, 3))) == 0.0
    assert max_pairwise_distance(np.ones((1, 3))) == 0.0
    assert farthest_pair_reference(np.array([[0.0, 0, 0], [3, 4, 0]]))[2] == pytest.approx(5.0)


def test_surface_corners_of_one_voxel_give_its_diagonal() -> None:
    mask = np.zeros((3, 3, 3), bool)
    mask[1, 1, 1] = True
    affine = np.diag([0.5, 1.0, 2.0, 1.0])
    corners = surface_corners_mm(mask, affine)
    assert corners.shape == (8, 3)
    assert max_pairwise_distance(corners) == pytest.approx(math.sqrt(0.25 + 1 + 4))
    # Corners straddle the voxel centre (index 1 -> world 0.5, 1, 2) by half a voxel.
    np.testing.assert_allclose(corners.min(axis=0), [0.25, 0.5, 1.0])
    np.testing.assert_allclose(corners.max(axis=0), [0.75, 1.5, 3.0])


def test_surface_corners_ignore_interior() -> None:
    mask = np.zeros((7, 7, 7), bool)
    mask[1:6, 1:6, 1:6] = True
    full = np.argwhere(mask)
    corners = surface_corners_mm(mask, np.eye(4))
    # 6x6x6 corner lattice minus the 2x2x2 corners touched only by interior voxels.
    assert len(corners) == 6**3 - 2**3
    assert max_pairwise_distance(corners) > max_pairwise_distance(full.astype(float))


def test_chord_perpendicular_analytic() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    assert chord_perpendicular(square, np.array([1.0, 1.0])) == pytest.approx(10 * math.sqrt(2))
    a, b = 20.0, 10.0
    rect = np.array([[0, 0], [a, 0], [a, b], [0, b]], float)
    d = math.hypot(a, b)
    # Perpendicular to a rectangle's diagonal, the longest chord passes through the centre
    # and has length b·d/a (for a >= b).
    assert chord_perpendicular(rect, np.array([a, b])) == pytest.approx(b * d / a)
    assert chord_perpendicular(rect, np.array([1.0, 0.0])) == pytest.approx(b)
    t = np.linspace(0, 2 * np.pi, 721)[:-1]
    ellipse = np.c_[15 * np.cos(t), 6 * np.sin(t)]
    assert chord_perpendicular(ellipse, np.array([1.0, 0.0])) == pytest.approx(12.0, rel=1e-4)


def test_chord_fast_matches_reference(rng: np.random.Generator) -> None:
    for n in (3, 8, 40):
        pts = rng.normal(size=(n, 2)) * [12.0, 4.0]
        direction = rng.normal(size=2)
        fast = chord_perpendicular(pts, direction)
        assert fast == pytest.approx(chord_perpendicular_reference(pts, direction), rel=1e-9)
    # Pixel-corner lattices (what bidimensional() feeds in) have many collinear points.
    grid = np.argwhere(rng.random((7, 9)) < 0.6).astype(float)
    d = np.array([2.0, 1.0])
    assert chord_perpendicular(grid, d) == pytest.approx(chord_perpendicular_reference(grid, d))


def test_chord_perpendicular_degenerate() -> None:
    assert chord_perpendicular(np.array([[0.0, 0], [1, 1]]), np.array([1.0, 1])) == 0.0
    line = np.c_[np.arange(10.0), np.arange(10.0)]
    assert chord_perpendicular(line, np.array([1.0, 1.0])) == 0.0


def test_axial_axis_follows_affine() -> None:
    assert axial_axis(np.eye(4)) == 2
    perm = np.zeros((4, 4))
    perm[0, 1], perm[1, 2], perm[2, 0], perm[3, 3] = 1.0, 1.0, -3.0, 1.0
    assert axial_axis(perm) == 0
