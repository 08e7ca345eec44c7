"""Region measurements on tiny synthetic volumes with known answers, and one real case.

Synthetic volumes are labelled as such; diameters follow the voxel-edge convention
(a region is the union of its voxels as boxes, see braintwin.measure.geometry).
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.measure import RegionMeasurement, bidimensional, measure_segmentation
from braintwin.types import Modality, Volume


def _seg(data: np.ndarray, spacing: tuple[float, float, float] = (1, 1, 1)) -> Volume:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-50.0, 20.0, 3.0]
    return Volume(data.astype(np.int16), affine, Modality.SEG)


def test_cube_10mm_isotropic() -> None:
    d = np.zeros((16, 16, 16))
    d[3:13, 3:13, 3:13] = 4  # synthetic 10 mm cube of enhancing tumour
    m = measure_segmentation(_seg(d))
    et = m["ET"]
    assert et.volume_ml == pytest.approx(1.0)
    assert et.largest_diameter_mm == pytest.approx(10 * math.sqrt(3))
    # Axial 10 x 10 mm square: both diagonals.
    assert et.longest_axial_mm == pytest.approx(10 * math.sqrt(2))
    assert et.perpendicular_mm == pytest.approx(10 * math.sqrt(2))
    assert et.bidimensional_mm2 == pytest.approx(200.0)
    assert et.sum_of_products_mm2 == pytest.approx(200.0)
    assert et.n_measurable == 1 and et.n_components == 1
    # Centroid: mean voxel index 7.5 mapped through the affine.
    assert et.centroid_mm == pytest.approx((-42.5, 27.5, 10.5))
    assert m["WT"] == RegionMeasurement(
        **{**et.to_dict(), "region": "WT", "centroid_mm": et.centroid_mm}
    )
    assert m["edema"].volume_ml == 0.0 and m["edema"].centroid_mm is None


def test_cube_10mm_anisotropic_spacing() -> None:
    d = np.zeros((24, 14, 8))
    d[2:22, 2:12, 1:6] = 2  # synthetic 10 mm cube on 0.5 x 1 x 2 mm voxels
    ed = measure_segmentation(_seg(d, (0.5, 1.0, 2.0)))["edema"]
    assert ed.volume_ml == pytest.approx(1.0)
    assert ed.largest_diameter_mm == pytest.approx(10 * math.sqrt(3))
    assert ed.bidimensional_mm2 == pytest.approx(200.0)


def test_rectangle_lesion_product() -> None:
    d = np.zeros((26, 14, 5))
    d[3:23, 2:12, 1:4] = 1  # synthetic 20 x 10 x 3 mm box
    nec = measure_segmentation(_seg(d))["necrosis"]
    diag = math.hypot(20, 10)
    assert nec.longest_axial_mm == pytest.approx(diag)
    assert nec.perpendicular_mm == pytest.approx(10 * diag / 20)
    assert nec.largest_diameter_mm == pytest.approx(math.sqrt(20**2 + 10**2 + 3**2))


def test_axial_axis_taken_from_affine() -> None:
    # Voxel axis 0 runs along world S-I: the axial plane is spanned by voxel axes 1 and 2.
    d = np.zeros((6, 26, 14))
    d[1:4, 3:23, 2:12] = 4
    affine = np.zeros((4, 4))
    affine[2, 0], affine[0, 1], affine[1, 2], affine[3, 3] = 1.0, -1.0, 1.0, 1.0
    et = measure_segmentation(Volume(d.astype(np.uint8), affine, Modality.SEG))["ET"]
    assert et.longest_axial_mm == pytest.approx(math.hypot(20, 10))
    assert et.axial_slice in (1, 2, 3)


def test_voxelised_sphere_known_answers() -> None:
    r, n = 12.0, 32
    c = (n - 1) / 2
    g = np.indices((n, n, n))
    ball = ((g - c) ** 2).sum(axis=0) <= r * r  # synthetic sphere, voxel centres within r
    wt = measure_segmentation(_seg(ball * 2))["WT"]
    assert wt.volume_ml == pytest.approx(4 / 3 * math.pi * r**3 / 1000, rel=0.02)
    # Edge convention: at least the 2r span plus one voxel, at most 2r + a voxel diagonal.
    assert 2 * r + 1 - 1e-9 <= wt.largest_diameter_mm <= 2 * r + math.sqrt(3) + 1e-9
    assert wt.longest_axial_mm == pytest.approx(2 * r + 1, abs=1.5)
    assert wt.perpendicular_mm == pytest.approx(wt.longest_axial_mm, abs=1.5)
    assert wt.axial_slice == pytest.approx(c, abs=2)  # central slices tie


def test_components_and_spd() -> None:
    d = np.zeros((60, 30, 10), np.int16)
    d[2:14, 2:14, 2:6] = 4  # lesion A 12 x 12 mm, measurable
    d[30:50, 5:20, 2:8] = 4  # lesion B 20 x 15 mm, measurable (index lesion)
    d[55:58, 25:28, 2:4] = 4  # tiny lesion, not measurable
    d[16:28, 18:26, 5:6] = 4  # 12 x 8 mm on a single slice: not measurable
    d[14, 14, 6] = 4  # touches A diagonally: same 26-connected component
    et = measure_segmentation(_seg(d))["ET"]
    assert et.n_components == 4
    assert et.n_measurable == 2
    prod = (12 * math.sqrt(2)) ** 2 + math.hypot(20, 15) * (15 * math.hypot(20, 15) / 20)
    assert et.sum_of_products_mm2 == pytest.approx(prod)
    assert et.bidimensional_mm2 == pytest.approx(math.hypot(20, 15) ** 2 * 15 / 20)
    assert et.index_lesion_diameter_mm == pytest.approx(math.sqrt(20**2 + 15**2 + 6**2))
    assert et.largest_diameter_mm > et.index_lesion_diameter_mm  # spans several lesions


def test_ring_lesion_measured_across_cavity() -> None:
    d = np.zeros((30, 30, 6), np.int16)
    g = np.indices((30, 30))
    r = np.hypot(g[0] - 14.5, g[1] - 14.5)
    d[..., 1:5] = np.where(r <= 11, np.where(r <= 8, 1, 4), 0)[..., None]  # synthetic ring
    lesion = bidimensional(d == 4, np.eye(4))
    assert lesion.longest_mm == pytest.approx(23.0, abs=1.5)
    assert lesion.perpendicular_mm == pytest.approx(lesion.longest_mm, abs=1.5)


def test_bad_labels_raise() -> None:
    d = np.zeros((4, 4, 4), np.int16)
    d[1, 1, 1] = 3
    with pytest.raises(InputError, match="label"):
        measure_segmentation(_seg(d))


def test_to_dict_round_trip() -> None:
    d = np.zeros((8, 8, 8))
    d[2:5, 2:6, 1:4] = 4
    m = measure_segmentation(_seg(d))["TC"]
    assert RegionMeasurement.from_dict(m.to_dict()) == m
    with pytest.raises(InputError):
        RegionMeasurement.from_dict({"region": "WT"})


def test_real_case_consistent_with_pyradiomics(brats_case: Path) -> None:
    """Real BraTS label map: volumes add up; 3D diameter agrees with pyradiomics' mesh value."""
    from braintwin.measure import radiomics_features

    img = nib.load(brats_case / f"{brats_case.name}_seg.nii.gz")
    data = np.asarray(img.dataobj).astype(np.int16)
    seg = Volume(data, img.affine, Modality.SEG)
    m = measure_segmentation(seg)
    assert m["WT"].voxel_count == int(np.count_nonzero(data))
    assert m["WT"].volume_ml == pytest.approx(
        m["edema"].volume_ml + m["necrosis"].volume_ml + m["ET"].volume_ml
    )
    assert m["WT"].largest_diameter_mm >= m["TC"].largest_diameter_mm
    assert m["ET"].n_measurable >= 1
    # pyradiomics measures the 3D diameter between marching-cubes vertices, which lie half a
    # voxel inside our box corners: ours must be larger by less than a voxel diagonal.
    feats = radiomics_features(seg, seg.with_data((data > 0).astype(np.uint8)), ("shape",))
    gap = m["WT"].largest_diameter_mm - feats["shape_Maximum3DDiameter"]
    assert 0.0 <= gap <= math.sqrt(3)
