"""RT Structure Set export: valid for pydicom, de-identified, and the contours rasterise back
onto the mask."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braintwin.errors import InputError
from braintwin.io.rtstruct import (
    RTSTRUCT_SOP_CLASS,
    Roi,
    mask_contours,
    read_rtstruct,
    save_rtstruct,
)
from braintwin.types import Modality, Volume


def _oblique_affine() -> np.ndarray:
    """An oblique, anisotropic (0.9 x 1.1 x 3 mm) grid: a 20° rotation about z and a shift."""
    a = np.deg2rad(20.0)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.9, 1.1, 3.0])
    aff[:3, 3] = [-40.0, 12.0, -30.0]
    return aff


def _shell(shape: tuple[int, int, int], aff: np.ndarray, r_out: float, r_in: float) -> np.ndarray:
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), -1)
    world = idx @ aff[:3, :3].T + aff[:3, 3]
    centre = np.array(shape) / 2 @ aff[:3, :3].T + aff[:3, 3]
    r = np.linalg.norm(world - centre, axis=-1)
    return (r <= r_out) & (r > r_in)


def test_round_trip_rasterises_back_to_the_masks(tmp_path: Path) -> None:
    aff = _oblique_affine()
    shape = (60, 50, 20)
    ball = _shell(shape, aff, 20.0, -1.0)
    hollow = _shell(shape, aff, 20.0, 8.0)  # inner contours are holes
    t1ce = Volume(np.random.default_rng(0).normal(100, 10, shape).astype(np.float32), aff)
    rois = [
        Roi("GTV", t1ce.with_data(ball.astype(np.uint8), Modality.MASK), "GTV"),
        Roi("CTV_model", t1ce.with_data(hollow.astype(np.uint8), Modality.MASK), "CTV", "x"),
    ]
    day = dt.date(2031, 5, 6)
    path = save_rtstruct(
        rois,
        tmp_path / "s.dcm",
        reference=t1ce,
        reference_dir=tmp_path / "ref",
        patient_id="BT-ABC123",
        study_date=day,
    )
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == RTSTRUCT_SOP_CLASS and ds.Modality == "RTSTRUCT"
    assert ds.PatientID == "BT-ABC123" and str(ds.PatientName) == "BT-ABC123^"
    assert ds.PatientBirthDate == "" and ds.PatientIdentityRemoved == "YES"
    assert ds.StructureSetDate == ds.StudyDate == "20310506"
    assert [r.ROIName for r in ds.StructureSetROISequence] == ["GTV", "CTV_model"]
    assert [o.RTROIInterpretedType for o in ds.RTROIObservationsSequence] == ["GTV", "CTV"]
    # Every contour references an image of the written series, on the same frame of reference.
    refs = [pydicom.dcmread(p) for p in sorted((tmp_path / "ref").glob("*.dcm"))]
    assert len(refs) == shape[2]
    uids = {r.SOPInstanceUID for r in refs}
    frame = ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    assert {r.FrameOfReferenceUID for r in refs} == {frame}
    for rc in ds.ROIContourSequence:
        for c in rc.ContourSequence:
            assert c.ContourImageSequence[0].ReferencedSOPInstanceUID in uids
            assert c.ContourGeometricType == "CLOSED_PLANAR"
            assert len(c.ContourData) == 3 * c.NumberOfContourPoints
    back = read_rtstruct(path, t1ce)
    for name, truth in (("GTV", ball), ("CTV_model", hollow)):
        got = back[name]
        dice = 2 * np.count_nonzero(got & truth) / (got.sum() + truth.sum())
        assert dice > 0.99, name


def test_contours_lie_on_their_slices_in_lps() -> None:
    aff = np.eye(4)
    m = np.zeros((10, 10, 3), bool)
    m[2:5, 3:7, 1] = True  # one 3 x 4 rectangle on slice 1
    [(k, pts)] = mask_contours(m, aff)
    assert k == 1 and np.allclose(pts[:, 2], 1.0)
    # RAS x in [1.5, 4.5] becomes LPS -x; contours run half-way between voxel centres.
    assert pts[:, 0].min() == pytest.approx(-4.5) and pts[:, 0].max() == pytest.approx(-1.5)
    assert -pts[:, 1].min() == pytest.approx(6.5) and -pts[:, 1].max() == pytest.approx(2.5)


def test_empty_or_mismatched_rois_are_refused(tmp_path: Path) -> None:
    v = Volume(np.zeros((5, 5, 5), np.uint8), np.eye(4), Modality.MASK)
    with pytest.raises(InputError, match="empty"):
        save_rtstruct([Roi("CTV", v)], tmp_path / "a.dcm")
    full = v.with_data(np.ones((5, 5, 5), np.uint8))
    other = Volume(np.ones((6, 5, 5), np.uint8), np.eye(4), Modality.MASK)
    with pytest.raises(InputError, match="grid"):
        save_rtstruct([Roi("A", full), Roi("B", other)], tmp_path / "b.dcm")
    assert not (tmp_path / "a.dcm").exists() and not (tmp_path / "b.dcm").exists()
