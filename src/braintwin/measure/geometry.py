"""Geometric kernels for lesion measurement: largest diameters and perpendicular chords.

Convention (voxel-edge): a region is the union of its voxels taken as closed boxes, the
same solid whose volume is ``voxel count × voxel volume``. Diameters are measured on that
solid, so a 10 × 10 × 10 mm cube of 1 mm voxels has largest diameter √3·10 mm and a single
voxel has the length of its space diagonal. (The voxel-centre convention would give
√3·(10 − h) and 0 for one voxel, systematically one voxel short of what a reader measures
edge to edge on the image.) The extreme points of a union of boxes are box corners, so the
kernels work on the unique voxel corners of the surface voxels.

Each kernel has a readable reference form (all pairs) and a fast form (convex hull: the
farthest pair of a point set is a pair of hull vertices), tested against each other.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

__all__ = [
    "axial_axis",
    "chord_perpendicular",
    "chord_perpendicular_reference",
    "farthest_pair",
    "farthest_pair_reference",
    "max_pairwise_distance",
    "max_pairwise_distance_reference",
    "surface_corners_mm",
]

_CORNERS_3D = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=np.int64)
_FACE_STRUCTURE = ndimage.generate_binary_structure(3, 1)


def axial_axis(affine: np.ndarray) -> int:
    """Index of the voxel axis closest to the world S-I direction (RAS+ z)."""
    rot = np.asarray(affine, dtype=float)[:3, :3]
    cosines = np.abs(rot[2, :]) / np.linalg.norm(rot, axis=0)
    return int(np.argmax(cosines))


def surface_corners_mm(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of the unique corners of the surface voxels of ``mask``.

    Args:
        mask: boolean array (nx, ny, nz).
        affine: (4, 4) voxel -> world mm.

    Returns:
        (n, 3) float array; empty (0, 3) for an empty mask. Interior voxels are dropped
        because their corners are shared with, or enclosed by, surface voxels.
    """
    mask = np.asarray(mask, dtype=bool)
    surface = mask & ~ndimage.binary_erosion(mask, _FACE_STRUCTURE, border_value=0)
    idx = np.argwhere(surface)
    if idx.size == 0:
        return np.zeros((0, 3))
    corners = (idx[:, None, :] + _CORNERS_3D[None, :, :]).reshape(-1, 3)
    # Deduplicate through one integer key per corner: a 1D unique is far faster than
    # np.unique(axis=0), which sorts rows lexicographically.
    dims = tuple(int(n) + 1 for n in mask.shape)
    keys = np.unique(np.ravel_multi_index(tuple(corners.T), dims))
    corners = np.stack(np.unravel_index(keys, dims), axis=1)
    # Corner (c) of voxel index space sits at c - 0.5 (voxel centres are integers).
    a = np.asarray(affine, dtype=float)
    return (corners - 0.5) @ a[:3, :3].T + a[:3, 3]


def farthest_pair_reference(points: np.ndarray) -> tuple[int, int, float]:
    """All-pairs search: indices (i, j) and distance of the farthest pair (readable form).

    O(n²) time, O(chunk · n) memory. Returns (0, 0, 0.0) for fewer than two points.
    """
    p = np.asarray(points, dtype=float)
    n = len(p)
    if n < 2:
        return 0, 0, 0.0
    best = (0, 0, -1.0)
    chunk = max(1, 4_000_000 // n)
    for start in range(0, n, chunk):
        block = p[start : start + chunk]
        d2 = np.sum((block[:, None, :] - p[None, :, :]) ** 2, axis=-1)
        flat = int(np.argmax(d2))
        i, j = divmod(flat, n)
        if d2[i, j] > best[2]:
            best = (start + i, j, float(d2[i, j]))
    return best[0], best[1], float(np.sqrt(best[2]))


def _hull_vertices(points: np.ndarray) -> np.ndarray:
    """Indices of convex-hull vertices; joggled hull for flat (coplanar/collinear) sets.

    A strictly extreme point stays a vertex under Qhull's tiny joggle ('QJ'), and the
    farthest pair can always be taken among strictly extreme points, so joggling is safe
    here; distances are always recomputed on the original coordinates.
    """
    try:
        return np.asarray(ConvexHull(points).vertices)
    except QhullError:
        try:
            return np.asarray(ConvexHull(points, qhull_options="QJ").vertices)
        except QhullError:
            # Fewer points than dimensions + 1 even after joggle: use them all.
            return np.arange(len(points))


def farthest_pair(points: np.ndarray) -> tuple[int, int, float]:
    """Fast form of :func:`farthest_pair_reference` via the convex hull (same result)."""
    p = np.asarray(points, dtype=float)
    if len(p) <= 64:
        return farthest_pair_reference(p)
    verts = _hull_vertices(p)
    i, j, d = farthest_pair_reference(p[verts])
    return int(verts[i]), int(verts[j]), d


def max_pairwise_distance_reference(points: np.ndarray) -> float:
    """Largest distance between any two of the (n, d) ``points`` (all pairs), same units."""
    return farthest_pair_reference(points)[2]


def max_pairwise_distance(points: np.ndarray) -> float:
    """Largest distance between any two of the (n, d) ``points`` (hull-accelerated)."""
    return farthest_pair(points)[2]


def chord_perpendicular_reference(points2d: np.ndarray, direction: np.ndarray) -> float:
    """Readable O(n³) form of :func:`chord_perpendicular`, for tests on small point sets.

    The hull's chord along a line is spanned by the line's crossings of segments joining
    two input points (every hull edge is such a segment, and every crossing lies in the
    hull); the longest chord is at the offset of some input point.
    """
    p = np.asarray(points2d, dtype=float)
    u = np.asarray(direction, dtype=float)
    if len(p) < 3 or not np.any(u):
        return 0.0
    u = u / np.linalg.norm(u)
    v = np.array([-u[1], u[0]])
    pu, pv = p @ u, p @ v
    best = 0.0
    for t in pu:
        crossings = []
        for i in range(len(p)):
            for j in range(len(p)):
                lo, hi = min(pu[i], pu[j]), max(pu[i], pu[j])
                if not lo - 1e-9 <= t <= hi + 1e-9:
                    continue
                if abs(pu[j] - pu[i]) < 1e-12:
                    crossings += [pv[i], pv[j]]
                else:
                    f = (t - pu[i]) / (pu[j] - pu[i])
                    crossings.append(pv[i] + f * (pv[j] - pv[i]))
        best = max(best, max(crossings) - min(crossings))
    return float(best)


def chord_perpendicular(points2d: np.ndarray, direction: np.ndarray) -> float:
    """Longest chord of the convex hull of ``points2d`` perpendicular to ``direction``.

    Chord length as a function of the offset along ``direction`` is concave and piecewise
    linear on a convex polygon, so its maximum is attained at the offset of a hull vertex;
    it is evaluated there exactly by intersecting the perpendicular line with every edge.

    Args:
        points2d: (n, 2) in-plane coordinates (mm).
        direction: (2,) the longest-diameter direction (need not be unit length).

    Returns:
        The chord length in mm (0 for degenerate, collinear sets).
    """
    p = np.asarray(points2d, dtype=float)
    u = np.asarray(direction, dtype=float)
    norm = float(np.linalg.norm(u))
    if len(p) < 3 or norm == 0:
        return 0.0
    u = u / norm
    v = np.array([-u[1], u[0]])
    try:
        hull = ConvexHull(p)
    except QhullError:
        return 0.0  # collinear: no width
    poly = p[hull.vertices]  # counter-clockwise polygon
    tu, tv = poly @ u, poly @ v
    a_u, b_u = tu, np.roll(tu, -1)
    a_v, b_v = tv, np.roll(tv, -1)
    lo, hi = np.minimum(a_u, b_u), np.maximum(a_u, b_u)
    best = 0.0
    for t in tu:
        hit = (lo <= t + 1e-12) & (t - 1e-12 <= hi)
        du = b_u[hit] - a_u[hit]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(np.abs(du) > 1e-12, (t - a_u[hit]) / du, 0.0)
        vs = a_v[hit] + np.clip(frac, 0.0, 1.0) * (b_v[hit] - a_v[hit])
        # An edge parallel to the line contributes both of its end points.
        par = np.abs(du) <= 1e-12
        vs = np.concatenate([vs, b_v[hit][par]])
        if vs.size:
            best = max(best, float(vs.max() - vs.min()))
    return best
