"""No identifier from a DICOM header survives reading with de-identification (real pixels).

The fixture is a real BraTS 2018 T1ce crop written as a DICOM MR series that carries fake
identifiers in the usual places and in a private tag; the folder names carry them too.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braintwin.deid import date_offset_days, pseudonym
from braintwin.errors import InputError
from braintwin.io import (
    load_dicom_series,
    load_nifti,
    read_visit_images,
    save_nifti,
    write_dicom_series,
)
from braintwin.types import Modality, Volume

SECRET = b"privacy-test-secret-32-bytes-...."
FAKE = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-0042-XYZ",
    "PatientBirthDate": "19700101",
    "PatientAddress": "12 Main Street Springfield",
    "PatientSex": "F",
    "InstitutionName": "St Elsewhere General Hospital",
    "InstitutionAddress": "1 Hospital Road",
    "ReferringPhysicianName": "House^Gregory",
    "PerformingPhysicianName": "Quinn^Michaela",
    "OperatorsName": "Tech^Tina",
    "AccessionNumber": "ACC-99887766",
    "StudyID": "STUDY-4711",
    "StationName": "MRSCANNER3",
    "DeviceSerialNumber": "SN-55443322",
    "StudyDate": "20240315",
    "SeriesDate": "20240315",
    "StudyDescription": "Brain tumour follow-up Jane",
    "SeriesDescription": "AX T1 POST GAD",
    "ContrastBolusAgent": "Gadovist given by Dr Quinn",
    "0009,1010": "Jane Doe private note",
}
IDENTIFIERS = (
    "doe^jane", "jane", "mrn-0042", "0042-xyz", "19700101", "main street", "elsewhere",
    "hospital road", "gregory", "quinn", "tech^tina", "acc-9988", "study-4711", "mrscanner3",
    "sn-5544", "20240315", "follow-up",
)  # fmt: skip


@pytest.fixture
def identified_series(tmp_path: Path, brats_case: Path) -> tuple[Path, Volume]:
    full = load_nifti(next(brats_case.glob("*_t1ce.nii.gz")), Modality.T1CE)
    crop = full.data[72:168, 72:168, 60:84]
    affine = full.affine.copy()
    affine[:3, 3] = full.index_to_world([72, 72, 60])
    vol = Volume(crop, affine, Modality.T1CE)
    visit = tmp_path / "Doe_Jane_MRN-0042-XYZ"
    write_dicom_series(vol, visit / "AX_T1_POST_Jane", header=FAKE)
    return visit, vol


def _leaks(text: str) -> list[str]:
    low = text.lower()
    return [ident for ident in IDENTIFIERS if ident in low]


def test_control_identifiers_are_in_the_files(identified_series: tuple[Path, Volume]) -> None:
    """Guard against a vacuous test: the raw files and a non-de-identified read do leak."""
    visit, _ = identified_series
    raw = next((visit / "AX_T1_POST_Jane").iterdir()).read_bytes().decode("latin-1")
    assert len(_leaks(raw)) >= 12
    plain = load_dicom_series(visit / "AX_T1_POST_Jane", deidentify=False)
    assert _leaks(str(plain.header))


def test_series_read_leaks_nothing(
    identified_series: tuple[Path, Volume], caplog: pytest.LogCaptureFixture
) -> None:
    visit, vol = identified_series
    folder = visit / "AX_T1_POST_Jane"
    original_uids = {
        str(pydicom.dcmread(next(folder.iterdir())).get(k))
        for k in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
    }
    with caplog.at_level(logging.DEBUG):
        series = load_dicom_series(folder, deidentify=True, secret=SECRET)
    exposed = " ".join(
        [str(series.header), str(series.volume.meta), str(series.warnings), repr(series.volume)]
    )
    assert _leaks(exposed) == []
    assert _leaks(caplog.text) == []
    assert not any(uid in exposed for uid in original_uids)
    assert series.header["PatientID"] == pseudonym("MRN-0042-XYZ", SECRET)
    shifted = dt.date(2024, 3, 15) + dt.timedelta(days=date_offset_days("MRN-0042-XYZ", SECRET))
    assert series.header["StudyDate"] == shifted.strftime("%Y%m%d")
    # the two in-memory keys are the originals, on purpose and by name
    assert series.patient_key == "MRN-0042-XYZ"
    assert series.study_date == dt.date(2024, 3, 15)
    assert series.modality is Modality.T1CE
    np.testing.assert_array_equal(np.abs(np.linalg.det(series.volume.affine)), 1.0)
    assert series.volume.data.sum() == vol.data.sum()  # real pixels intact


def test_visit_read_and_saved_files_leak_nothing(
    identified_series: tuple[Path, Volume], tmp_path: Path
) -> None:
    visit, _ = identified_series
    images = read_visit_images(visit, secret=SECRET)
    exposed = " ".join(
        [
            str(images.sources),
            str(images.headers),
            str(images.warnings),
            str([v.meta for v in images.volumes.values()]),
            images.digest,
        ]
    )
    assert _leaks(exposed) == []
    assert images.sources == ["dicom:t1ce:24 slices"]
    for m, v in images.volumes.items():
        out = save_nifti(v, tmp_path / "out" / f"{m.value}.nii.gz")
        assert _leaks(gzip.decompress(out.read_bytes()).decode("latin-1")) == []


def test_uids_remap_consistently(identified_series: tuple[Path, Volume]) -> None:
    folder = identified_series[0] / "AX_T1_POST_Jane"
    a = load_dicom_series(folder, secret=SECRET).header
    b = load_dicom_series(folder, secret=SECRET).header
    c = load_dicom_series(folder, secret=b"another-secret-of-32-bytes......").header
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert a[key] == b[key] != c[key]
        assert a[key].startswith("2.25.")


def test_deidentified_copy_leaks_nothing_and_reads_back(
    identified_series: tuple[Path, Volume], tmp_path: Path
) -> None:
    from braintwin.deid import deidentify_folder

    visit, _ = identified_series
    (visit / "notes.txt").write_text("not DICOM")
    out = deidentify_folder(visit, tmp_path / "shared", SECRET)
    assert len(out) == 24
    for p in (tmp_path / "shared").rglob("*"):
        assert _leaks(str(p.relative_to(tmp_path))) == []
        if p.is_file():
            assert _leaks(p.read_bytes().decode("latin-1")) == []
    again = load_dicom_series(out[0].parent, deidentify=False)
    original = load_dicom_series(visit / "AX_T1_POST_Jane", secret=SECRET)
    np.testing.assert_array_equal(again.volume.data, original.volume.data)
    np.testing.assert_allclose(again.volume.affine, original.volume.affine)
    # the copy carries exactly the UIDs/dates a de-identifying read reports
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "StudyDate", "PatientID"):
        assert again.header[key] == original.header[key]
    assert again.patient_key == pseudonym("MRN-0042-XYZ", SECRET)
    with pytest.raises(InputError, match="already exists"):
        deidentify_folder(visit, tmp_path / "shared", SECRET)
