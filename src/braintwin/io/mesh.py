"""Surface meshes of tumour regions (for 3D printing or surgical planning), STL or OBJ.

The surface is the 0.5 iso-surface of the region's binary mask (marching cubes, Lewiner et
al. 2003, as implemented in scikit-image), so it passes halfway between inside and outside
voxel centres and encloses about the voxel-count volume. Vertices are in world millimetres
(RAS+, through the volume's affine, so oblique and anisotropic grids are handled); faces are
wound counter-clockwise seen from outside (outward normals), as STL expects.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TextIO

import numpy as np
from scipy import ndimage

from braintwin.atomic import atomic_open
from braintwin.errors import InputError
from braintwin.types import Region, Volume, check_labels, region_mask

__all__ = ["is_manifold", "is_watertight", "mask_mesh", "mesh_volume", "region_mesh", "save_mesh"]


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume (mm³) of a closed triangle mesh by the divergence theorem.

    Sum over faces of v0 · (v1 × v2) / 6; positive for outward-facing triangles.
    """
    v = np.asarray(vertices, dtype=float)[np.asarray(faces)]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


def _edge_counts(faces: np.ndarray) -> np.ndarray:
    f = np.asarray(faces)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    return np.unique(edges, axis=0, return_counts=True)[1]


def is_watertight(faces: np.ndarray) -> bool:
    """True when the mesh is closed: every edge is shared by a positive, even number of faces.

    A closed mesh has no boundary (hole) edges. Voxels of a label map that touch only along
    an edge give surfaces meeting at that edge (4 faces), which is closed but not a
    2-manifold; see :func:`is_manifold`.
    """
    if np.asarray(faces).size == 0:
        return False
    return bool(np.all(_edge_counts(faces) % 2 == 0))


def is_manifold(faces: np.ndarray) -> bool:
    """True when every edge is shared by exactly two faces (closed 2-manifold, printable)."""
    if np.asarray(faces).size == 0:
        return False
    return bool(np.all(_edge_counts(faces) == 2))


def mask_mesh(
    mask: np.ndarray, affine: np.ndarray, *, smooth_sigma_vox: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Surface mesh of a boolean mask.

    Args:
        mask: boolean (nx, ny, nz), not empty.
        affine: (4, 4) voxel -> world mm.
        smooth_sigma_vox: Gaussian smoothing of the mask before meshing (voxels); 0 = none.
            A light 0.5-1 voxel removes staircase artefacts and the non-manifold edges where
            voxels touch only along an edge, but rounds sharp corners and thins 1-voxel
            structures (a region that would vanish entirely is meshed unsmoothed).

    Returns:
        vertices (n, 3) float64 in world mm, faces (m, 3) int64.
    """
    from skimage.measure import marching_cubes

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InputError("cannot mesh an empty mask", "choose a region present in the segmentation")
    if smooth_sigma_vox < 0:
        raise InputError(f"smooth_sigma_vox must be >= 0, got {smooth_sigma_vox}")
    # Pad with background so the surface closes at the crop/volume border (watertight).
    pad = 2 + math.ceil(3 * smooth_sigma_vox)
    idx = np.argwhere(mask)
    lo = idx.min(axis=0) - pad
    hi = idx.max(axis=0) + pad + 1
    field = np.zeros(tuple(int(x) for x in hi - lo), dtype=np.float32)
    src = tuple(
        slice(max(int(a), 0), min(int(b), n)) for a, b, n in zip(lo, hi, mask.shape, strict=True)
    )
    dst = tuple(slice(s.start - a, s.stop - a) for s, a in zip(src, lo, strict=True))
    field[dst] = mask[src]
    if smooth_sigma_vox > 0:
        smoothed = ndimage.gaussian_filter(field, smooth_sigma_vox)
        # A region thinner than the kernel would vanish (no 0.5 crossing left): mesh it
        # unsmoothed rather than lose it.
        if smoothed.max() > 0.5:
            field = smoothed
    verts, faces, _, _ = marching_cubes(field, level=0.5, allow_degenerate=False)
    world = (verts + lo) @ np.asarray(affine, dtype=float)[:3, :3].T + np.asarray(affine)[:3, 3]
    faces = faces.astype(np.int64)
    # Winding depends on the affine's handedness; make normals point outward.
    if mesh_volume(world, faces) < 0:
        faces = faces[:, ::-1].copy()
    return world, faces


def region_mesh(
    seg: Volume, region: Region | str, *, smooth_sigma_vox: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Surface mesh of one tumour region (WT, TC, ET, edema, necrosis) of a label Volume.

    Returns:
        vertices (n, 3) in world mm (RAS+), faces (m, 3) vertex indices.

    Raises:
        InputError: bad labels or the region is empty.
    """
    check_labels(seg.data)
    mask = region_mask(seg.data, region)
    if not mask.any():
        raise InputError(f"region {Region(region).value} is empty", "nothing to mesh")
    return mask_mesh(mask, seg.affine, smooth_sigma_vox=smooth_sigma_vox)


def _write_obj(fh: TextIO, vertices: np.ndarray, faces: np.ndarray) -> None:
    lines = ["# braintwin surface mesh; units mm, world RAS+"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]  # OBJ is 1-based
    fh.write("\n".join(lines) + "\n")


def save_mesh(vertices: np.ndarray, faces: np.ndarray, path: str | Path) -> Path:
    """Write a triangle mesh as binary STL (``.stl``) or Wavefront OBJ (``.obj``); atomic.

    Args:
        vertices: (n, 3) coordinates in mm.
        faces: (m, 3) vertex indices, outward winding.
        path: destination; the suffix picks the format.

    Returns:
        The written path.
    """
    path = Path(path)
    v = np.asarray(vertices, dtype=float)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InputError(f"need vertices (n, 3) and faces (m, 3), got {v.shape} and {f.shape}")
    if f.min() < 0 or f.max() >= len(v):
        raise InputError("faces refer to vertices that do not exist")
    suffix = path.suffix.lower()
    if suffix not in (".stl", ".obj"):
        raise InputError(f"unknown mesh format {suffix or '(none)'}", "use .stl or .obj")
    if suffix == ".stl":
        from stl import Mode
        from stl import mesh as stl_mesh

        m = stl_mesh.Mesh(np.zeros(len(f), dtype=stl_mesh.Mesh.dtype))
        m.vectors[:] = v[f]
        m.update_normals()
        with atomic_open(path, "wb") as fh:
            # The 80-byte header names the final file, not the temporary one.
            m.save(path.name, fh=fh, mode=Mode.BINARY)
    else:
        with atomic_open(path, "w", encoding="ascii") as fh:
            _write_obj(fh, v, f)
    return path
