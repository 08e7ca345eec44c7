"""Which study a visit's objects join (recorded remapped UIDs, or derived ones), and the
de-identified copies of the original images given with ``--images``."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from braintwin.deid.keys import date_offset_days, remap_uid
from braintwin.errors import InputError
from braintwin.twin.pacs import deidentify_images, derived_uid, visit_study
from braintwin.types import Modality, Visit, Volume

SECRET = b"0123456789abcdef0123456789abcdef"
PSEUDONYM = "BT-TESTTESTTE"
AFFINE = np.diag([1.0, 1.0, 3.0, 1.0])


def visit(record: dict[str, object] | None, sources: list[str]) -> Visit:
    meta: dict[str, object] = {"sources": sources}
    if record is not None:
        meta["dicom"] = record
    vol = Volume(np.zeros((4, 4, 3)), AFFINE, Modality.T1CE)
    return Visit(date=dt.date(2000, 5, 6), volumes={Modality.T1CE: vol}, meta=meta)


RECORD = {
    "study_uid": "2.25.7",
    "series": {
        "t1ce": {
            "series_uid": "2.25.8",
            "frame_of_reference_uid": "2.25.9",
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.4",
            "instance_uids": ["2.25.11", "2.25.12", "2.25.13"],
            "shape": [4, 4, 3],
            "affine": AFFINE.tolist(),
        }
    },
}


def test_a_dicom_visit_on_its_own_grid_references_its_images() -> None:
    v = visit(RECORD, ["dicom:t1ce:3 slices"])
    ref, how = visit_study(SECRET, PSEUDONYM, v, "t1ce", v.reference)
    assert ref.existing and "remapped UIDs" in how
    assert (ref.study_uid, ref.frame_of_reference_uid, ref.series_uid) == ("2.25.7", "2.25.9",
                                                                           "2.25.8")  # fmt: skip
    assert ref.instance_uids == ("2.25.11", "2.25.12", "2.25.13")


def test_another_grid_keeps_the_study_with_a_new_reference_series() -> None:
    v = visit(RECORD, ["dicom:t1ce:3 slices"])
    grid = v.reference.with_spacing((1.0, 1.0, 5.0))  # e.g. ingested with --spacing
    ref, how = visit_study(SECRET, PSEUDONYM, v, "t1ce", grid)
    assert not ref.existing and ref.study_uid == "2.25.7" and "--spacing" in how
    assert ref.frame_of_reference_uid != "2.25.9" and ref.series_uid != "2.25.8"


def test_a_nifti_visit_gets_stable_derived_uids() -> None:
    v = visit(None, ["nifti:t1ce"])
    ref, how = visit_study(SECRET, PSEUDONYM, v, "t1ce", v.reference)
    again, _ = visit_study(SECRET, PSEUDONYM, v, "t1ce", v.reference)
    assert ref == again and not ref.existing and "NIfTI" in how
    assert ref.study_uid == derived_uid(SECRET, PSEUDONYM, "2000-05-06", "study")
    assert ref.study_uid.startswith("2.25.") and len(ref.study_uid) <= 64
    assert len(set(ref.instance_uids)) == 3
    other, _ = visit_study(SECRET, "BT-OTHEROTHER", v, "t1ce", v.reference)
    assert other.study_uid != ref.study_uid
    _, how = visit_study(SECRET, PSEUDONYM, visit(None, ["dicom:t1ce:3 slices"]), "t1ce",
                         v.reference)  # fmt: skip
    assert "ingest it again" in how


@dataclass
class _Twin:
    id: str


def test_images_are_copied_for_the_twin_and_foreign_ones_refused(tmp_path: Path) -> None:
    src = tmp_path / "original"
    src.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "slice.dcm")
    original = pydicom.dcmread(src / "slice.dcm")
    twin = _Twin(PSEUDONYM)
    study = remap_uid(str(original.StudyInstanceUID), SECRET)

    with pytest.raises(InputError, match=r"1 of the 1 DICOM files .* belong to no study"):
        deidentify_images(twin, SECRET, src, tmp_path / "refused", {"2.25.1"})
    assert not (tmp_path / "refused").exists()

    (copy,) = deidentify_images(twin, SECRET, src, tmp_path / "images", {study})
    ds = pydicom.dcmread(copy)
    assert ds.StudyInstanceUID == study
    assert ds.SOPInstanceUID == remap_uid(str(original.SOPInstanceUID), SECRET)
    assert ds.PatientID == ds.PatientName == PSEUDONYM
    # The twin's date shift, which is keyed on its pseudonym.
    shift = dt.timedelta(days=date_offset_days(PSEUDONYM, SECRET))
    real = dt.datetime.strptime(str(original.StudyDate), "%Y%m%d").date()
    assert ds.StudyDate == (real + shift).strftime("%Y%m%d")
    assert "slice" not in copy.name


def test_a_missing_or_non_pdf_report_file_is_refused(tmp_path: Path) -> None:
    from braintwin.twin.pacs import _report_pdf

    with pytest.raises(InputError, match="--pdf file does not exist"):
        _report_pdf(_Twin(PSEUDONYM), tmp_path / "missing.pdf", tmp_path)
    (tmp_path / "notes.pdf").write_text("not a pdf")
    data, what = _report_pdf(_Twin(PSEUDONYM), tmp_path / "notes.pdf", tmp_path)
    assert data == b"not a pdf"
    assert what == "the given PDF"  # the bytes are checked when encapsulated (test_objects)
