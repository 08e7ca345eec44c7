"""Region meshes: volume by the divergence theorem, watertightness, STL/OBJ files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.io.mesh import (
    is_manifold,
    is_watertight,
    mask_mesh,
    mesh_volume,
    region_mesh,
    save_mesh,
)
from braintwin.types import Modality, Volume


def _sphere_seg(r_mm: float, spacing: tuple[float, float, float], label: int = 4) -> Volume:
    """Synthetic voxelised sphere (voxel centres within r) centred in its grid."""
    n = [math.ceil(2 * r_mm / s) + 6 for s in spacing]
    g = np.indices(n).astype(float)
    centre = [(k - 1) / 2 for k in n]
    d2 = sum(((g[i] - centre[i]) * spacing[i]) ** 2 for i in range(3))
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [10.0, -20.0, 30.0]
    return Volume((d2 <= r_mm**2).astype(np.int16) * label, affine, Modality.SEG)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 1.0, 1.5)])
def test_sphere_volume_and_watertight(spacing: tuple[float, float, float]) -> None:
    r = 10.0
    seg = _sphere_seg(r, spacing)
    verts, faces = region_mesh(seg, "ET")
    assert is_watertight(faces) and is_manifold(faces)
    assert mesh_volume(verts, faces) == pytest.approx(4 / 3 * math.pi * r**3, rel=0.03)
    # World mm: the centroid of the vertices sits at the sphere's centre in world space.
    centre = seg.index_to_world([(k - 1) / 2 for k in seg.shape])
    np.testing.assert_allclose(verts.mean(axis=0), centre, atol=0.2)


def test_smoothing_keeps_volume_and_closure() -> None:
    seg = _sphere_seg(8.0, (1.0, 1.0, 1.0))
    verts, faces = region_mesh(seg, "WT", smooth_sigma_vox=0.7)
    assert is_watertight(faces)
    assert mesh_volume(verts, faces) == pytest.approx(4 / 3 * math.pi * 8.0**3, rel=0.04)


def test_mirrored_affine_keeps_outward_normals() -> None:
    mask = np.zeros((8, 8, 8), bool)
    mask[2:6, 2:6, 2:6] = True
    verts, faces = mask_mesh(mask, np.diag([-1.0, 2.0, 1.0, 1.0]))
    assert mesh_volume(verts, faces) > 0
    # Touching the array border still gives a closed surface (padding).
    verts, faces = mask_mesh(np.ones((3, 3, 3), bool), np.eye(4))
    assert is_watertight(faces)


def test_is_watertight_detects_holes() -> None:
    tetra = np.array([[0, 1, 2], [0, 3, 1], [1, 3, 2], [2, 3, 0]])
    assert is_watertight(tetra) and is_manifold(tetra)
    assert not is_watertight(tetra[:3]) and not is_manifold(tetra[:3])
    assert not is_watertight(np.zeros((0, 3), int))


def test_smoothing_never_loses_a_tiny_region() -> None:
    mask = np.zeros((6, 6, 6), bool)
    mask[2, 2, 2] = True  # synthetic single voxel: smoothing would erase it
    verts, faces = mask_mesh(mask, np.eye(4), smooth_sigma_vox=1.0)
    assert is_manifold(faces)
    assert 0 < mesh_volume(verts, faces) < 1.0


def test_save_stl_and_obj(tmp_path: Path) -> None:
    from stl import mesh as stl_mesh

    verts, faces = region_mesh(_sphere_seg(6.0, (1.0, 1.0, 1.0)), "TC")
    stl = save_mesh(verts, faces, tmp_path / "tc.stl")
    back = stl_mesh.Mesh.from_file(str(stl))
    assert len(back.vectors) == len(faces)
    assert back.get_mass_properties()[0] == pytest.approx(mesh_volume(verts, faces), rel=1e-4)
    obj = save_mesh(verts, faces, tmp_path / "tc.obj")
    lines = obj.read_text().splitlines()
    assert sum(ln.startswith("v ") for ln in lines) == len(verts)
    f_lines = [ln for ln in lines if ln.startswith("f ")]
    assert len(f_lines) == len(faces)
    assert f_lines[0] == "f " + " ".join(str(i + 1) for i in faces[0])


def test_bad_input(tmp_path: Path) -> None:
    seg = _sphere_seg(3.0, (1.0, 1.0, 1.0), label=2)
    with pytest.raises(InputError, match="empty"):
        region_mesh(seg, "ET")
    verts, faces = region_mesh(seg, "edema")
    with pytest.raises(InputError, match="format"):
        save_mesh(verts, faces, tmp_path / "x.ply")
    with pytest.raises(InputError, match="vertices"):
        save_mesh(verts, faces + len(verts), tmp_path / "x.stl")


def test_real_case_meshes(shared_brats_case: Path) -> None:
    """Expert labels of a real BraTS case: closed surfaces enclosing the voxel volume."""
    brats_case = shared_brats_case  # the rim bounds below were measured on this very case
    import nibabel as nib

    img = nib.load(brats_case / f"{brats_case.name}_seg.nii.gz")
    seg = Volume(np.asarray(img.dataobj).astype(np.int16), img.affine, Modality.SEG)
    for region, labels in (("WT", (1, 2, 4)), ("ET", (4,))):
        verts, faces = region_mesh(seg, region)
        assert is_watertight(faces)
        # This case's enhancing rim has voxels touching only along edges (non-manifold);
        # the light smoothing used for export removes them.
        assert is_manifold(region_mesh(seg, region, smooth_sigma_vox=0.5)[1])
        voxel_mm3 = float(np.isin(seg.data, labels).sum()) * seg.voxel_volume_mm3
        # The 0.5 iso-surface cuts voxel corners, so it encloses a little less than the
        # voxel count; thin enhancing rims lose relatively more than the bulky whole tumour.
        assert 0.85 * voxel_mm3 < mesh_volume(verts, faces) < voxel_mm3
