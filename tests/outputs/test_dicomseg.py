"""DICOM SEG export: write, read back with highdicom/pydicom, compare masks slice by slice."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from braintwin.errors import InputError
from braintwin.io.dicomseg import (
    dicom_series_affine,
    save_dicom_seg,
    synthesize_reference_series,
)
from braintwin.types import Modality, Volume

AFFINE = np.array(
    [[0.9, 0.0, 0.0, -10.0], [0.0, 1.1, 0.0, 20.0], [0.0, 0.0, 2.5, 5.0], [0, 0, 0, 1.0]]
)


def _labels() -> Volume:
    """Synthetic labels on an anisotropic grid; slice 0 and 5 empty, all three labels used."""
    d = np.zeros((12, 10, 6), np.int16)
    d[2:8, 3:7, 1:5] = 2
    d[4:6, 4:6, 2:4] = 4
    d[3, 3, 1] = 1
    d[9, 1, 4] = 1
    return Volume(d, AFFINE, Modality.SEG)


def _to_our_grid(v: hd.Volume, seg: Volume) -> np.ndarray:
    """Scatter a highdicom volume (LPS) onto ``seg``'s grid using only the affines."""
    out = np.zeros((*seg.shape, v.array.shape[-1]), bool)
    idx = np.indices(v.array.shape[:3]).reshape(3, -1).T
    lps = idx @ v.affine[:3, :3].T + v.affine[:3, 3]
    ijk = np.rint(seg.world_to_index(lps * [-1, -1, 1])).astype(int)
    assert np.all((ijk >= 0) & (ijk < seg.shape))
    out[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = v.array.reshape(len(idx), -1) > 0
    return out


def test_synthesised_reference_round_trip_geometry(tmp_path: Path) -> None:
    seg = _labels()
    path = save_dicom_seg(seg, None, tmp_path / "seg.dcm", reference_dir=tmp_path / "ref")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert ds.PatientName == "ANONYMOUS^"
    sdesc = hd.seg.segread(path)
    segs = sdesc.SegmentSequence
    assert [s.SegmentLabel for s in segs] == [
        "necrotic and non-enhancing tumor core",
        "peritumoral edema",
        "enhancing tumor",
    ]
    assert [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in segs] == [
        "6574001",
        "79654002",
        "108369006",
    ]
    assert all(s.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT" for s in segs)
    assert segs[0].AnatomicRegionSequence[0].CodeValue == "12738006"  # Brain
    vol = sdesc.get_volume(combine_segments=False)
    back = _to_our_grid(vol, seg)
    for n, label in enumerate((1, 2, 4)):
        np.testing.assert_array_equal(back[..., n], seg.data == label)
    # The reference series on disk is read back by braintwin's DICOM reader on the same grid.
    from braintwin.io.dicom import load_dicom_series

    series = load_dicom_series(tmp_path / "ref")
    assert series.volume.shape == seg.shape
    np.testing.assert_allclose(series.volume.affine, seg.affine, atol=1e-4)


def test_given_series_per_slice(tmp_path: Path, rng: np.random.Generator) -> None:
    seg = _labels()
    # The source series is stored in a flipped, LPS-like voxel order and shuffled on disk.
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[:2, 3] = [seg.shape[0] - 1, seg.shape[1] - 1]
    ref_vol = Volume(
        rng.normal(size=seg.shape)[::-1, ::-1].astype(np.float32), seg.affine @ flip, Modality.T1CE
    )
    datasets = synthesize_reference_series(ref_vol)
    shuffled = [datasets[i] for i in rng.permutation(len(datasets))]
    path = save_dicom_seg(seg, shuffled, tmp_path / "seg.dcm", manual=True)
    sdesc = hd.seg.segread(path)
    assert sdesc.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    ordered, aff = dicom_series_affine(shuffled)
    np.testing.assert_allclose(aff, ref_vol.affine, atol=1e-6)
    uids = [d.SOPInstanceUID for d in ordered]
    pix = sdesc.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=[1, 2, 3]
    )
    ref_labels = seg.data[::-1, ::-1, :]  # the input labels in the reference voxel order
    for k in range(len(uids)):
        for n, label in enumerate((1, 2, 4)):
            np.testing.assert_array_equal(pix[k, :, :, n] > 0, (ref_labels[:, :, k] == label).T)


def test_refuses_bad_input(tmp_path: Path) -> None:
    seg = _labels()
    with pytest.raises(InputError, match="no tumour"):
        save_dicom_seg(seg.with_data(np.zeros(seg.shape, np.int16)), None, tmp_path / "a.dcm")
    other = Volume(np.zeros((12, 10, 6)), np.diag([1.0, 1, 1, 1]), Modality.T1)
    with pytest.raises(InputError, match="grid"):
        save_dicom_seg(seg, other, tmp_path / "b.dcm")
    with pytest.raises(InputError, match="grid"):
        save_dicom_seg(seg, synthesize_reference_series(other), tmp_path / "c.dcm")
    sheared = AFFINE.copy()
    sheared[0, 2] = 0.7
    with pytest.raises(InputError, match="sheared"):
        save_dicom_seg(Volume(seg.data, sheared, Modality.SEG), None, tmp_path / "e.dcm")
    bad = seg.with_data(np.where(seg.data == 4, 3, seg.data))
    with pytest.raises(InputError, match="label"):
        save_dicom_seg(bad, None, tmp_path / "d.dcm")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_real_case_round_trip(brats_case: Path, tmp_path: Path) -> None:
    """The expert labels of a real BraTS case, exported with its T1ce as reference."""
    img = nib.load(brats_case / f"{brats_case.name}_seg.nii.gz")
    seg = Volume(np.asarray(img.dataobj).astype(np.int16), img.affine, Modality.SEG)
    t1ce = nib.load(brats_case / f"{brats_case.name}_t1ce.nii.gz")
    ref = Volume(np.asarray(t1ce.dataobj).astype(np.float32), t1ce.affine, Modality.T1CE)
    path = save_dicom_seg(seg, ref, tmp_path / "seg.dcm", manual=True)
    back = _to_our_grid(hd.seg.segread(path).get_volume(combine_segments=False), seg)
    for n, label in enumerate((1, 2, 4)):
        np.testing.assert_array_equal(back[..., n], seg.data == label)
