"""export_visit: the DICOM SEG names the pseudonym and the shifted visit date; uncertainty map."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from braintwin.twin.exports import UNCERTAINTY_FILE, export_visit
from braintwin.types import Modality, Visit, Volume

AFFINE = np.diag([1.0, 1.0, 2.0, 1.0])
PSEUDONYM = "BT-ABCDEFGHIJ"
SHIFTED = dt.date(2019, 3, 4)


def _visit(with_uncertainty: bool) -> Visit:
    labels = np.zeros((16, 14, 8), np.int16)
    labels[4:10, 4:10, 2:6] = 2
    labels[6:8, 6:8, 3:5] = 4
    seg = Volume(labels, AFFINE, Modality.SEG)
    extras = {}
    if with_uncertainty:
        unc = np.linspace(0, 1, labels.size, dtype=np.float32).reshape(labels.shape)
        extras["uncertainty"] = Volume(unc, AFFINE, Modality.PROBABILITY)
    t1ce = Volume(np.ones(labels.shape, np.float32), AFFINE, Modality.T1CE)
    return Visit(date=SHIFTED, volumes={Modality.T1CE: t1ce}, segmentation=seg, extras=extras)


def test_dicom_seg_carries_pseudonym_and_shifted_visit_date(tmp_path: Path) -> None:
    paths = export_visit(_visit(False), tmp_path, patient_id=PSEUDONYM)
    ds = pydicom.dcmread(tmp_path / "segmentation_seg.dcm")
    assert ds.PatientName.family_name == PSEUDONYM
    assert ds.PatientID == PSEUDONYM
    # every date in the object is the visit's shifted date, never the day of the export
    for keyword in ("StudyDate", "SeriesDate", "ContentDate"):
        assert getattr(ds, keyword) == "20190304", keyword
    assert "ANONYMOUS" not in str(ds.PatientName)
    assert not (tmp_path / UNCERTAINTY_FILE).exists()
    assert all(PSEUDONYM not in p.name for p in paths)


def test_uncertainty_map_is_exported_when_present(tmp_path: Path) -> None:
    visit = _visit(True)
    paths = export_visit(visit, tmp_path, patient_id=PSEUDONYM)
    assert tmp_path / UNCERTAINTY_FILE in paths
    img = nib.load(tmp_path / UNCERTAINTY_FILE)
    # no transforms stored: the visit grid is the native grid, values unchanged
    np.testing.assert_allclose(np.asarray(img.dataobj), visit.extras["uncertainty"].data, atol=1e-6)
    np.testing.assert_allclose(img.affine, AFFINE)
