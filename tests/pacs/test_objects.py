"""The DICOM objects for PACS on tiny volumes whose answer is known: SR (TID 1500), SEG in a
given study, Encapsulated PDF, and the record of a visit's remapped UIDs."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from braintwin.errors import InputError
from braintwin.io.dicom_pdf import ENCAPSULATED_PDF_SOP_CLASS, encapsulate_pdf
from braintwin.io.dicom_refs import StudyReference, dicom_record, recorded_series
from braintwin.io.dicom_sr import measurement_report, region_values, save_measurement_report
from braintwin.io.dicomseg import save_dicom_seg
from braintwin.measure import measure_segmentation
from braintwin.types import Modality, Volume

DAY = dt.date(2000, 1, 2)
AFFINE = np.diag([1.0, 1.0, 2.0, 1.0])  # voxel 1 x 1 x 2 mm = 2 mm³


def labels() -> Volume:
    """Edema block 7 x 7 x 3 voxels with a 3 x 3 x 1 enhancing core inside: WT = 147 voxels =
    294 mm³ = 0.294 mL; TC = ET = 9 voxels = 0.018 mL."""
    d = np.zeros((20, 20, 6), np.uint8)
    d[5:12, 5:12, 1:4] = 2
    d[7:10, 7:10, 2] = 4
    return Volume(d, AFFINE, Modality.SEG)


def report(seg_ds: pydicom.Dataset, seg: Volume, tmp: Path) -> Path:
    measurements = {k: v.to_dict() for k, v in measure_segmentation(seg).items()}
    sr = measurement_report(
        [seg_ds],
        region_values(measurements),
        tracking_uids={"WT": "2.25.11", "TC": "2.25.12", "ET": "2.25.13"},
        time_point="visit 1",
        time_point_order=1,
        device_uid="2.25.9",
        series_uid="2.25.10",
        sop_uid="2.25.14",
        day=DAY,
        version="test",
    )
    return save_measurement_report(sr, tmp / "sr.dcm")


def test_sr_tid1500_reports_known_volumes_in_the_seg_study(tmp_path: Path) -> None:
    seg = labels()
    seg_path = save_dicom_seg(seg, None, tmp_path / "seg.dcm", patient_id="BT-TEST", study_date=DAY)
    seg_ds = pydicom.dcmread(seg_path)
    sr = hd.sr.srread(report(seg_ds, seg, tmp_path))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert sr.PatientID == "BT-TEST" and sr.StudyInstanceUID == seg_ds.StudyInstanceUID
    assert sr.StudyDate == sr.ContentDate == sr.SeriesDate == "20000102"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == seg_ds.SOPInstanceUID
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    assert set(groups) == {"whole tumour (WT)", "tumour core (TC)", "enhancing tumour (ET)"}
    assert groups["whole tumour (WT)"].tracking_uid == "2.25.11"
    volumes = {
        name: next(m for m in g.get_measurements() if m.name.meaning == "Volume")
        for name, g in groups.items()
    }
    assert volumes["whole tumour (WT)"].value == pytest.approx(0.294)
    assert volumes["enhancing tumour (ET)"].value == pytest.approx(0.018)
    assert volumes["tumour core (TC)"].unit.value == "ml"
    assert volumes["tumour core (TC)"].unit.scheme_designator == "UCUM"
    et = {m.name.meaning: m for m in groups["enhancing tumour (ET)"].get_measurements()}
    # RANO diameters are carried as ``measure`` computed them (the 3 x 3 voxel square's
    # diagonal across the voxels' outer edges: 3 * sqrt(2) mm).
    expected = measure_segmentation(seg)["ET"]
    assert et["Long axis"].value == pytest.approx(expected.longest_axial_mm)
    assert et["Long axis"].value == pytest.approx(3 * np.sqrt(2))
    assert et["Short axis"].value == pytest.approx(expected.perpendicular_mm)
    assert et["Long axis"].unit.value == "mm"


def test_sr_refuses_a_visit_without_measurements(tmp_path: Path) -> None:
    seg = labels()
    seg_ds = pydicom.dcmread(save_dicom_seg(seg, None, tmp_path / "seg.dcm"))
    with pytest.raises(InputError, match="no regional measurements"):
        measurement_report(
            [seg_ds], [], tracking_uids={}, time_point="v", time_point_order=1,
            device_uid="2.25.1", series_uid="2.25.2", sop_uid="2.25.3", day=DAY, version="t",
        )  # fmt: skip


def test_seg_joins_a_given_study_and_references_its_images(tmp_path: Path) -> None:
    seg = labels()
    ref = StudyReference(
        study_uid="2.25.100",
        frame_of_reference_uid="2.25.101",
        series_uid="2.25.102",
        instance_uids=tuple(f"2.25.{200 + k}" for k in range(seg.shape[2])),
        existing=True,
    )
    path = save_dicom_seg(
        seg, None, tmp_path / "seg.dcm", patient_id="BT-TEST", study_date=DAY, study=ref,
        reference_dir=tmp_path / "reference",
    )  # fmt: skip
    ds = hd.seg.segread(path)
    assert ds.StudyInstanceUID == "2.25.100" and ds.FrameOfReferenceUID == "2.25.101"
    assert ds.PatientID == "BT-TEST" and ds.StudyDate == "20000102"
    series = ds.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == "2.25.102"
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedInstanceSequence} == set(
        ref.instance_uids
    )
    # Frames point at the right slices: the enhancing core lies on slice k = 2 only.
    enh = [n for n, d in enumerate(ds.SegmentSequence, 1) if d.SegmentLabel == "enhancing tumor"]
    frames = [
        f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        for f in ds.PerFrameFunctionalGroupsSequence
        if f.SegmentIdentificationSequence[0].ReferencedSegmentNumber == enh[0]
    ]
    assert frames == ["2.25.202"]
    # Images that exist elsewhere are never re-written with synthesised pixels.
    assert not (tmp_path / "reference").exists()


def test_encapsulated_pdf_round_trip(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    plt.close(fig)
    pdf = buf.getvalue()
    seg_ds = pydicom.dcmread(
        save_dicom_seg(labels(), None, tmp_path / "seg.dcm", patient_id="BT-TEST", study_date=DAY)
    )
    for data in (pdf, pdf + b"\n"):  # even and odd lengths
        ds = encapsulate_pdf(data, seg_ds, title="braintwin report", series_uid="2.25.1",
                             sop_uid="2.25.2")  # fmt: skip
        ds.save_as(tmp_path / "pdf.dcm", enforce_file_format=True)
        back = pydicom.dcmread(tmp_path / "pdf.dcm")
        assert back.SOPClassUID == ENCAPSULATED_PDF_SOP_CLASS and back.Modality == "DOC"
        assert back.MIMETypeOfEncapsulatedDocument == "application/pdf"
        n = int(back.EncapsulatedDocumentLength)
        assert n == len(data) and bytes(back.EncapsulatedDocument[:n]) == data
        assert back.StudyInstanceUID == seg_ds.StudyInstanceUID and back.PatientID == "BT-TEST"
        assert back.ContentDate == "20000102"
    with pytest.raises(InputError, match="not a PDF"):
        encapsulate_pdf(b"<html>", seg_ds, title="t", series_uid="2.25.1", sop_uid="2.25.2")


def test_visit_record_of_remapped_uids() -> None:
    vol = Volume(np.zeros((4, 4, 3)), AFFINE, Modality.T1CE,
                 {"instance_uids": ["2.25.1", "2.25.2", "2.25.3"], "sop_class_uid": "1.2.3"})  # fmt: skip
    header = {"StudyInstanceUID": "2.25.7", "SeriesInstanceUID": "2.25.8",
              "FrameOfReferenceUID": "2.25.9"}  # fmt: skip
    record = dicom_record({Modality.T1CE: header}, {Modality.T1CE: vol})
    assert record is not None and record["study_uid"] == "2.25.7"
    entry = recorded_series(record, "t1ce", vol.shape, vol.affine)
    assert entry is not None and entry["instance_uids"] == ["2.25.1", "2.25.2", "2.25.3"]
    # Another grid (e.g. a --spacing override) is not the recorded series.
    assert recorded_series(record, "t1ce", vol.shape, np.diag([1.0, 1.0, 5.0, 1.0])) is None
    assert recorded_series(record, "flair", vol.shape, vol.affine) is None
    assert dicom_record({}, {}) is None
