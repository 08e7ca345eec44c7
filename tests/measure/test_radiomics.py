"""Radiomics via pyradiomics: geometry conversion, known first-order values, a real crop."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.measure import (
    measure_segmentation,
    radiomics_features,
    radiomics_table,
    volume_to_sitk,
    write_table,
)
from braintwin.types import Modality, Volume


def _oblique_affine() -> np.ndarray:
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([0.8, 1.2, 2.0])
    a = np.eye(4)
    a[:3, :3], a[:3, 3] = rot, [-40.0, 12.0, 7.5]
    return a


def test_volume_to_sitk_geometry() -> None:
    vol = Volume(np.arange(60, dtype=np.float32).reshape(3, 4, 5), _oblique_affine())
    img = volume_to_sitk(vol)
    assert img.GetSize() == (3, 4, 5)
    for ijk in [(0, 0, 0), (2, 3, 4), (1, 2, 0)]:
        lps = np.asarray(img.TransformIndexToPhysicalPoint(ijk))
        ras = vol.index_to_world(ijk)
        np.testing.assert_allclose(lps, [-ras[0], -ras[1], ras[2]], atol=1e-9)
        assert img.GetPixel(ijk) == vol.data[ijk]


def test_known_first_order_and_volume(rng: np.random.Generator) -> None:
    # Synthetic: random intensities, a box mask on an oblique anisotropic grid.
    img = rng.normal(100.0, 20.0, size=(20, 18, 10)).astype(np.float32)
    mask = np.zeros(img.shape, np.uint8)
    mask[4:15, 3:12, 2:8] = 1
    aff = _oblique_affine()
    feats = radiomics_features(
        Volume(img, aff), Volume(mask, aff, Modality.MASK), ("shape", "firstorder")
    )
    inside = img[mask > 0].astype(np.float64)
    assert feats["firstorder_Mean"] == pytest.approx(inside.mean(), rel=1e-5)
    assert feats["firstorder_Maximum"] == pytest.approx(inside.max(), rel=1e-6)
    voxel_mm3 = 0.8 * 1.2 * 2.0
    assert feats["shape_VoxelVolume"] == pytest.approx(mask.sum() * voxel_mm3, rel=1e-6)
    assert all(np.isfinite(v) for v in feats.values())


def test_bad_input() -> None:
    img = Volume(np.ones((6, 6, 6), np.float32), np.eye(4))
    empty = Volume(np.zeros((6, 6, 6), np.uint8), np.eye(4), Modality.MASK)
    with pytest.raises(InputError, match="empty"):
        radiomics_features(img, empty)
    with pytest.raises(InputError, match="grid"):
        radiomics_features(img, Volume(np.ones((6, 6, 5), np.uint8), np.eye(4)))
    some = empty.with_data(np.pad(np.ones((2, 2, 2), np.uint8), 2))
    with pytest.raises(InputError, match="class"):
        radiomics_features(img, some, ("colour",))
    with pytest.raises(InputError, match="bin"):
        radiomics_features(img, some, bin_count=None, bin_width=None)


def test_flat_region_gives_finite_real_features() -> None:
    img = Volume(np.full((8, 8, 8), 5.0, np.float32), np.eye(4))
    mask = np.zeros((8, 8, 8), np.uint8)
    mask[2:6, 2:6, 2:6] = 1  # synthetic constant-intensity cube
    feats = radiomics_features(img, img.with_data(mask))
    assert feats["firstorder_Mean"] == pytest.approx(5.0)
    assert all(isinstance(v, float) and np.isfinite(v) for v in feats.values())


@pytest.fixture(scope="module")
def real_crop(brats_case: Path) -> tuple[dict[Modality, Volume], Volume]:
    """A real BraTS case cropped to the tumour bounding box plus 3 voxels."""
    seg_img = nib.load(brats_case / f"{brats_case.name}_seg.nii.gz")
    seg = np.asarray(seg_img.dataobj).astype(np.int16)
    idx = np.argwhere(seg > 0)
    lo, hi = idx.min(axis=0) - 3, idx.max(axis=0) + 4
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    shift = np.eye(4)
    shift[:3, 3] = lo
    aff = seg_img.affine @ shift
    vols = {}
    for mod in (Modality.T1CE, Modality.FLAIR):
        img = nib.load(brats_case / f"{brats_case.name}_{mod.value}.nii.gz")
        vols[mod] = Volume(np.asarray(img.dataobj)[sl].astype(np.float32), aff, mod)
    return vols, Volume(seg[sl], aff, Modality.SEG)


def test_real_crop_shape_volume_agrees(real_crop, tmp_path: Path) -> None:
    vols, seg = real_crop
    rows = radiomics_table(vols, seg)
    assert [(r["modality"], r["region"]) for r in rows] == [
        (m, r) for r in ("WT", "TC", "ET") for m in ("t1ce", "flair")
    ]
    ours = measure_segmentation(seg)
    for row in rows:
        ml = ours[row["region"]].volume_ml
        assert row["shape_VoxelVolume"] / 1000 == pytest.approx(ml, rel=1e-9)
        # Marching-cubes mesh volume vs voxel count: within a few % on real tumours.
        assert row["shape_MeshVolume"] / 1000 == pytest.approx(ml, rel=0.05)
        assert {"glcm_Contrast", "glrlm_RunEntropy", "glszm_ZoneEntropy"} <= set(row)
    # Texture differs between modalities; shape does not.
    t1ce, flair = rows[0], rows[1]
    assert t1ce["shape_Sphericity"] == flair["shape_Sphericity"]
    assert t1ce["firstorder_Mean"] != flair["firstorder_Mean"]
    out = write_table(rows, tmp_path / "radiomics.csv")
    with out.open() as fh:
        back = list(csv.DictReader(fh))
    assert len(back) == len(rows)
    assert float(back[0]["glcm_Contrast"]) == pytest.approx(rows[0]["glcm_Contrast"])
