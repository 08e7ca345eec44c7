"""PS3.15 Basic Profile behaviour of ``deidentify_dataset`` on a hand-built dataset."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from braintwin.deid import date_offset_days, deidentify_dataset, pseudonym

SECRET = b"0123456789abcdef0123456789abcdef"
STUDY_UID = "1.2.826.0.1.3680043.2.1125.1.111"
SERIES_UID = "1.2.826.0.1.3680043.2.1125.1.222"
SOP_UID = "1.2.826.0.1.3680043.2.1125.1.333"
IDENTIFIERS = (
    "Doe^Jane", "MRN-0042-XYZ", "19700101", "St Elsewhere", "ACC-99887", "House^Gregory",
    "Jane's private", "12 Main Street", "555-0100", "Dr Nested", "STUDY-77", "SN-12345",
    "Scanner Room 3", "Doe Jane nickname", STUDY_UID, SERIES_UID, SOP_UID, "20240315",
    "20240316",
)  # fmt: skip


def _dataset() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = SOP_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-0042-XYZ"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.PatientAge = "093Y"
    ds.PatientAddress = "12 Main Street"
    ds.PatientTelephoneNumbers = "555-0100"
    ds.OtherPatientNames = "Doe Jane nickname"
    ds.InstitutionName = "St Elsewhere"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.AccessionNumber = "ACC-99887"
    ds.StudyID = "STUDY-77"
    ds.DeviceSerialNumber = "SN-12345"
    ds.StationName = "Scanner Room 3"
    ds.StudyDate = "20240315"
    ds.AcquisitionDateTime = "20240316101500.000000"
    ds.StudyTime = "101500"
    ds.Modality = "MR"
    ds.EchoTime = "15"
    ds.ContrastBolusAgent = "Gadovist by Dr Who"
    ds.add_new(0x00091010, "LO", "Jane's private")
    ds.add_new(0x00231001, "LO", "Jane's private")  # odd group: private, no creator
    ds.add_new(0x00080001, "UL", 4)  # retired but known: kept
    ds.add_new(0x00191234 - 0x00010000, "LO", "Jane's private")  # (0018,1234): unknown public
    item = Dataset()
    item.ReferencedSOPClassUID = MRImageStorage
    item.ReferencedSOPInstanceUID = SOP_UID
    item.PerformingPhysicianName = "Dr Nested"
    item.PatientID = "MRN-0042-XYZ"  # identifiers hide in sequence items too
    item.PatientBirthDate = "19700101"
    item.add_new(0x00111001, "LO", "Jane's private")
    ds.ReferencedImageSequence = Sequence([item])
    return ds


def _text(ds: Dataset) -> str:
    return str(ds) + str(ds.file_meta)


def test_no_identifier_survives() -> None:
    out = deidentify_dataset(_dataset(), SECRET)
    text = _text(out)
    for ident in IDENTIFIERS:
        assert ident not in text, ident
    assert out.PatientName == pseudonym("MRN-0042-XYZ", SECRET)
    assert out.PatientID == out.PatientName
    assert out.PatientBirthDate == ""
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethod
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"


def test_private_and_unknown_tags_removed_recursively() -> None:
    out = deidentify_dataset(_dataset(), SECRET)
    assert not any(e.tag.is_private for e in out.iterall())
    assert 0x00181234 not in out
    assert 0x00080001 in out


def test_input_is_not_modified() -> None:
    ds = _dataset()
    deidentify_dataset(ds, SECRET)
    assert ds.PatientName == "Doe^Jane"
    assert 0x00091010 in ds


def test_characteristics_kept_and_age_capped() -> None:
    out = deidentify_dataset(_dataset(), SECRET)
    assert out.PatientSex == "F"
    assert out.PatientAge == "090Y"  # over 89 -> 90 (HIPAA Safe Harbor)
    assert out.Modality == "MR" and float(out.EchoTime) == 15.0
    assert out.ContrastBolusAgent == "CONTRAST"  # that contrast was given, not the free text


def test_dates_shifted_by_patient_offset() -> None:
    out = deidentify_dataset(_dataset(), SECRET)
    offset = date_offset_days("MRN-0042-XYZ", SECRET)
    expect = dt.date(2024, 3, 15) + dt.timedelta(days=offset)
    assert out.StudyDate == expect.strftime("%Y%m%d")
    assert out.AcquisitionDateTime.startswith(
        (dt.date(2024, 3, 16) + dt.timedelta(days=offset)).strftime("%Y%m%d")
    )
    assert out.AcquisitionDateTime.endswith("101500.000000")


def test_uids_remapped_consistently_and_classes_kept() -> None:
    a = deidentify_dataset(_dataset(), SECRET)
    b = deidentify_dataset(_dataset(), SECRET)
    assert a.StudyInstanceUID == b.StudyInstanceUID != STUDY_UID
    assert a.SeriesInstanceUID == b.SeriesInstanceUID != SERIES_UID
    assert a.SOPInstanceUID.startswith("2.25.")
    # the same original UID maps to the same new UID wherever it appears
    assert a.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.SOPClassUID == MRImageStorage
    assert a.ReferencedImageSequence[0].ReferencedSOPClassUID == MRImageStorage
    c = deidentify_dataset(_dataset(), b"another secret of 32 bytes......")
    assert c.StudyInstanceUID != a.StudyInstanceUID


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_unparseable_date_is_dropped_not_kept() -> None:
    ds = _dataset()
    ds.SeriesDate = "15/03/2024"
    out = deidentify_dataset(ds, SECRET)
    assert "SeriesDate" not in out


def test_patient_id_override_sets_pseudonym_and_offset() -> None:
    out = deidentify_dataset(_dataset(), SECRET, patient_id="case-1")
    assert out.PatientID == pseudonym("case-1", SECRET)
    offset = date_offset_days("case-1", SECRET)
    assert out.StudyDate == (dt.date(2024, 3, 15) + dt.timedelta(days=offset)).strftime("%Y%m%d")
