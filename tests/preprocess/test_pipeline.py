"""preprocess_visit end to end: synthetic visits (fast) and a real BraTS case (slow)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from braintwin.errors import InputError
from braintwin.preprocess import (
    PreprocessOptions,
    apply_transform,
    preprocess_visit,
    reorient_ras,
    to_native,
    transform_magnitude,
)
from braintwin.types import Modality, Volume


def phantom(affine: np.ndarray, shape: tuple[int, int, int], contrast: float) -> Volume:
    """Synthetic 'head': ellipsoid brain, a ventricle-like dark core, an off-centre lesion.

    Evaluated in world coordinates, so any grid/orientation shows the same anatomy.
    ``contrast`` flips the lesion brightness between 'modalities'. Synthetic, for unit tests.
    """
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), -1)
    x, y, z = np.moveaxis(idx @ affine[:3, :3].T + affine[:3, 3], -1, 0)
    brain = (x / 22) ** 2 + (y / 26) ** 2 + (z / 18) ** 2 <= 1
    vent = ((x - 2) / 5) ** 2 + (y / 9) ** 2 + (z / 5) ** 2 <= 1
    lesion = ((x + 9) ** 2 + (y - 10) ** 2 + (z - 4) ** 2) <= 36
    data = np.where(brain, 100.0 + 0.8 * x + 0.5 * y, 0.0)
    data = np.where(vent, 30.0, data)
    data = np.where(lesion & brain, 100.0 + 80.0 * contrast, data)
    return Volume(data.astype(np.float32), affine, Modality.OTHER)


def _affine(spacing: float, flip: bool, origin: float) -> np.ndarray:
    a = np.diag([spacing, spacing, spacing, 1.0])
    if flip:  # LPS-like storage
        a[0, 0] = a[1, 1] = -spacing
        a[:3, 3] = [-origin, -origin, origin]
    else:
        a[:3, 3] = [origin, origin, origin]
    return a


@pytest.fixture(scope="module")
def visit() -> dict[Modality, Volume]:
    t1ce = phantom(_affine(1.0, False, -31.5), (64, 64, 64), 1.0)
    t2 = phantom(_affine(1.5, True, -31.5), (43, 43, 43), -1.0)  # LPS, 1.5 mm, same world
    return {
        Modality.T1CE: Volume(t1ce.data, t1ce.affine, Modality.T1CE),
        Modality.T2: Volume(t2.data, t2.affine, Modality.T2),
    }


def test_synthetic_visit_on_one_ras_grid(visit: dict[Modality, Volume]) -> None:
    calls: list[tuple[str, float]] = []
    pv = preprocess_visit(
        visit,
        options=PreprocessOptions(n4=False, spacing=(2.0, 2.0, 2.0)),
        progress=lambda msg, frac: calls.append((msg, frac)),
    )
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)
    grid = pv.brain_mask
    assert grid.orientation == "RAS" and grid.spacing == pytest.approx((2.0, 2.0, 2.0))
    assert set(pv.volumes) == set(pv.raw) == {Modality.T1CE, Modality.T2}
    for m, v in pv.volumes.items():
        assert v.same_grid(grid) and v.modality is m and v.data.dtype == np.float32
        inside = v.data[grid.data]
        assert inside.mean() == pytest.approx(0.0, abs=1e-4)
        assert np.all(v.data[~grid.data] == 0)
    # The headers were right: registration must leave the T2 where it was (< 1 mm).
    mat = np.asarray(pv.transforms["modalities"]["t2"]["matrix"])
    assert transform_magnitude(mat, pv.raw[Modality.T2])[0] < 1.0
    # The brain mask covers the phantom brain (4/3 pi abc = 43 L... here 43.1 mL).
    mask_ml = np.count_nonzero(grid.data) * grid.voxel_volume_mm3 / 1000
    assert mask_ml == pytest.approx(4 / 3 * np.pi * 22 * 26 * 18 / 1000, rel=0.1)
    json.loads(json.dumps(pv.transforms))  # JSON-serialisable
    assert {"reorient", "register", "brain_mask", "zscore"} <= set(pv.timings)


def test_to_native_maps_labels_back(visit: dict[Modality, Volume]) -> None:
    pv = preprocess_visit(visit, options=PreprocessOptions(n4=False, register=False))
    seg = pv.brain_mask.with_data(pv.brain_mask.data.astype(np.uint8), Modality.SEG)
    transforms = json.loads(json.dumps(pv.transforms))
    back = to_native(seg, transforms, Modality.T2)
    t2 = visit[Modality.T2]
    assert back.same_grid(t2) and back.data.dtype == np.uint8
    truth = t2.data > 0
    dice = 2 * np.count_nonzero(truth & (back.data > 0)) / (truth.sum() + (back.data > 0).sum())
    assert dice > 0.95
    with pytest.raises(InputError, match="no transform"):
        to_native(seg, transforms, Modality.FLAIR)
    with pytest.raises(InputError, match="preprocessed grid"):
        to_native(t2, transforms, Modality.T2)


def test_fov_mismatch_is_refused_naming_modalities(visit: dict[Modality, Volume]) -> None:
    t2 = visit[Modality.T2]
    far = t2.affine.copy()
    far[0, 3] += 50.0  # 64 mm wide fields of view shifted by 50 mm: ~22 % overlap
    bad = {Modality.T1CE: visit[Modality.T1CE], Modality.T2: Volume(t2.data, far, Modality.T2)}
    with pytest.raises(InputError, match=r"t2 and t1ce overlap only \d+%"):
        preprocess_visit(bad)


def test_bad_inputs(visit: dict[Modality, Volume]) -> None:
    t1ce = visit[Modality.T1CE]
    with pytest.raises(InputError, match="flair image is all zero"):
        preprocess_visit(
            {**visit, Modality.FLAIR: t1ce.with_data(np.zeros(t1ce.shape), Modality.FLAIR)}
        )
    with pytest.raises(InputError, match="label map"):
        preprocess_visit({**visit, Modality.SEG: t1ce.with_data(np.ones(t1ce.shape, np.uint8))})
    with pytest.raises(InputError, match="no images"):
        preprocess_visit({})
    # Only isolated specks of signal: no brain to find, a clear error, not a NaN.
    specks = np.zeros(t1ce.shape, np.float32)
    specks[::16, ::16, ::16] = 50.0
    with pytest.raises(InputError):
        preprocess_visit(
            {Modality.T1CE: t1ce.with_data(specks)}, options=PreprocessOptions(n4=False)
        )
    # A 1 mL blob is no brain: refused rather than normalised.
    blob = np.zeros(t1ce.shape, np.float32)
    blob[30:40, 30:40, 30:40] = 80.0
    with pytest.raises(InputError, match=r"holds only 1\.0 mL"):
        preprocess_visit(
            {Modality.T1CE: t1ce.with_data(blob)},
            options=PreprocessOptions(n4=False, skull_strip="never"),
        )
    with pytest.raises(ValidationError):
        PreprocessOptions(spacing=(0.0, 1.0, 1.0))
    with pytest.raises(ValidationError):
        PreprocessOptions(skull_strip="sometimes")  # type: ignore[arg-type]


def _rigid(vol: Volume, deg: float, shift: tuple[float, float, float]) -> np.ndarray:
    a = np.radians(deg)
    c = vol.index_to_world((np.asarray(vol.shape) - 1) / 2.0)
    m = np.eye(4)
    m[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
    m[:3, 3] = c - m[:3, :3] @ c + np.asarray(shift)
    return m


@pytest.mark.slow
def test_real_brats_visit_with_a_misaligned_t2(brats_volumes: dict[Modality, Volume]) -> None:
    vols = dict(brats_volumes)
    t2 = vols[Modality.T2]
    # Same grid as the others, but the anatomy moved (synthetic motion of a real image):
    # the header check alone would accept it; the verification must catch and fix it.
    applied = _rigid(t2, 3.0, (3.0, -2.0, 0.0))
    vols[Modality.T2] = apply_transform(t2, applied, t2)
    start = time.perf_counter()
    pv = preprocess_visit(vols)
    elapsed = time.perf_counter() - start
    methods = {m: e["method"] for m, e in pv.transforms["modalities"].items()}
    assert methods == {"t1": "verified", "t1ce": "fixed", "t2": "rigid", "flair": "verified"}
    # The T2 matrix undoes the motion (native = moved T2 -> target = original world).
    mat = np.asarray(pv.transforms["modalities"]["t2"]["matrix"])
    ref = reorient_ras(brats_volumes[Modality.T1CE])
    rms_mm, deg = transform_magnitude(mat @ applied, ref)
    assert rms_mm < 1.0 and deg < 1.0
    grid = pv.brain_mask
    assert grid.shape == (240, 240, 155) and grid.orientation == "RAS"
    assert 1000 < np.count_nonzero(grid.data) / 1000 < 2000  # mL, a brain
    for v in pv.volumes.values():
        inside = v.data[grid.data]
        assert abs(float(inside.mean())) < 0.05 and float(inside.std()) == pytest.approx(
            1, abs=0.05
        )
    # Generous bound for a loaded CI machine; the benchmark measures the real figure.
    assert elapsed < 120


@pytest.mark.slow
def test_later_visit_registered_to_first(brats_volumes: dict[Modality, Volume]) -> None:
    opts = PreprocessOptions(n4=False)
    first = preprocess_visit(
        {m: brats_volumes[m] for m in (Modality.T1CE, Modality.FLAIR)}, options=opts
    )
    reference = first.raw[Modality.T1CE]
    # A synthetic 'later visit': the same head repositioned in the scanner (rigid motion).
    t1ce = brats_volumes[Modality.T1CE]
    applied = _rigid(t1ce, -4.0, (5.0, 3.0, -2.0))
    later = {
        m: apply_transform(brats_volumes[m], applied, brats_volumes[m])
        for m in (Modality.T1CE, Modality.FLAIR)
    }
    pv = preprocess_visit(later, reference=reference, options=opts)
    assert pv.brain_mask.same_grid(reference)
    ref_mat = np.asarray(pv.transforms["reference_matrix"])
    rms_mm, deg = transform_magnitude(ref_mat @ applied, reference)
    assert rms_mm < 1.0 and deg < 1.0
    inside = first.brain_mask.data
    corr = np.corrcoef(pv.raw[Modality.FLAIR].data[inside], first.raw[Modality.FLAIR].data[inside])
    assert corr[0, 1] > 0.95


@pytest.mark.slow
def test_raw_scan_with_skull_thick_slices(shared_data: Path) -> None:
    """A real raw post-contrast T1 (skull, ~1 x 1 x 5 mm slices) through the whole pipeline."""
    import nibabel as nib

    img: Any = nib.load(str(shared_data / "progression" / "01" / "Pre_Scan_T1.nii.gz"))
    affine = img.affine.copy()
    affine[2, 2] *= 5.0  # the header says 1 mm; the slices are ~5 mm thick (DATA.md)
    vol = Volume(np.asarray(img.dataobj, dtype=np.float32), affine, Modality.T1CE)
    pv = preprocess_visit({Modality.T1CE: vol})
    grid = pv.brain_mask
    assert grid.spacing == pytest.approx((1.0, 1.0, 1.0))
    assert grid.shape == (256, 256, 120)
    assert pv.brain_mask.meta["brain_mask"] == "deepbet"  # T1ce is T1-weighted
    assert pv.flags == []
    litres = np.count_nonzero(grid.data) / 1e6
    assert 1.0 < litres < 2.3
    z = pv.volumes[Modality.T1CE].data[grid.data]
    assert abs(float(z.mean())) < 1e-3 and float(z.std()) == pytest.approx(1.0, abs=0.05)
    # Back to the native 5 mm grid for a result computed on the 1 mm grid.
    back = to_native(
        grid.with_data(grid.data.astype(np.uint8), Modality.SEG), pv.transforms, "t1ce"
    )
    assert back.shape == vol.shape
    assert 1.0 < np.count_nonzero(back.data) * back.voxel_volume_mm3 / 1e6 < 2.3


@pytest.mark.slow
def test_real_t2_on_an_oblique_grid(
    brats_volumes: dict[Modality, Volume], brats_case: Path
) -> None:
    """A T2 stored on an oblique, anisotropic, non-RAS grid (as a scanner might write it)
    must come back onto the T1ce grid in place, and labels must map back onto it."""
    from braintwin.preprocess import grid_volume

    t2 = brats_volumes[Modality.T2]
    a, b = np.radians(12.0), np.radians(7.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    oblique = np.eye(4)
    oblique[:3, :3] = rz @ rx @ np.diag([-1.2, 2.0, -1.2])[:, [0, 2, 1]]  # L, I, A-ish axes
    centre = t2.index_to_world((np.asarray(t2.shape) - 1) / 2.0)
    shape = (200, 140, 120)  # 240 x 168 x 240 mm
    oblique[:3, 3] = centre - oblique[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    t2_oblique = apply_transform(t2, np.eye(4), grid_volume(oblique, shape))
    vols = {Modality.T1CE: brats_volumes[Modality.T1CE], Modality.T2: t2_oblique}
    pv = preprocess_visit(vols, options=PreprocessOptions(n4=False))
    entry = pv.transforms["modalities"]["t2"]
    assert entry["method"] == "rigid"
    rms_mm, deg = transform_magnitude(np.asarray(entry["matrix"]), pv.brain_mask)
    assert rms_mm < 1.0 and deg < 1.0  # the headers were right; registration keeps them
    original = reorient_ras(t2).data.astype(np.float32)
    inside = pv.brain_mask.data & (original > 0) & (pv.raw[Modality.T2].data > 0)
    assert np.corrcoef(pv.raw[Modality.T2].data[inside], original[inside])[0, 1] > 0.9
    # Expert labels (on the T1ce grid) onto the oblique T2 grid.
    import nibabel as nib

    seg_img: Any = nib.load(str(brats_case / f"{brats_case.name}_seg.nii.gz"))
    seg = reorient_ras(Volume(np.asarray(seg_img.dataobj), seg_img.affine, Modality.SEG))
    back = to_native(seg, pv.transforms, Modality.T2)
    direct = apply_transform(seg, np.eye(4), grid_volume(oblique, shape))
    wt_b, wt_d = back.data > 0, direct.data > 0
    assert 2 * np.count_nonzero(wt_b & wt_d) / (wt_b.sum() + wt_d.sum()) > 0.9
