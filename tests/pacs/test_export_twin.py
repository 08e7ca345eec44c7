"""``braintwin export dicom`` on real twins, pushed to a real Orthanc.

* NIfTI visits: the cropped real follow-up pair shipped in tests/data/progression (pair 10,
  expert enhancing-tumour masks; true voxel ~1 x 1 x 5 mm): derived, stable study UIDs.
* A DICOM visit: the real raw scanner series ../shared/data/dicom/siemens_skyra_mprage (a
  healthy child, no tumour; a spherical label is drawn on its native grid, as an expert would,
  only to have something to export): the objects reference the *remapped* UIDs of the
  de-identified images, and images and results end up in one study on the PACS.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from tests.cli import run

from braintwin.deid import load_or_create_secret
from braintwin.io import load_dicom_series, load_nifti, save_nifti
from braintwin.twin import IngestOptions, Twin
from braintwin.twin.model import calibrate_twin
from braintwin.twin.pacs import derived_uid
from braintwin.types import Modality

from .conftest import OrthancServer

SPACING = (1.0, 1.0, 5.0)


def small_pdf(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title("braintwin report (test)")
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return path


def written(out_dir: Path) -> dict[str, Path]:
    return {p.relative_to(out_dir).as_posix(): p for p in out_dir.rglob("*.dcm")}


@pytest.mark.slow
def test_nifti_twin_to_orthanc(
    home: Path,
    shipped_progression: Path,
    tmp_path: Path,
    orthanc: OrthancServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pair = shipped_progression / "10"
    twin = Twin.open("pacs-nifti-test", create=True)
    opts = IngestOptions(
        modality=Modality.T1CE, spacing_override=SPACING, segment=None, classify=False,
        update_model=False, n4=False,
    )  # fmt: skip
    twin.add_visit(pair / "Pre_Scan_T1.nii.gz", dt.date(2001, 7, 4), options=opts)

    # No segmentation yet: one line saying what to run, exit 2, nothing written.
    code, out, err = run(["export", "dicom", twin.id, str(tmp_path / "none")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no segmented visit" in err and f"braintwin segment {twin.id}" in err
    # The expert mask, with the voxel size the images were ingested with (--spacing).
    mask = load_nifti(pair / "Pre_Mask.nii.gz", Modality.SEG).with_spacing(SPACING)
    twin.import_segmentation(save_nifti(mask, tmp_path / "pre_mask.nii.gz"))
    twin.add_visit(
        pair / "Post_Scan_T1.nii.gz", dt.date(2001, 10, 2),
        options=IngestOptions(**{**opts.__dict__, "segmentation": pair / "Post_Mask.nii.gz"}),
    )  # fmt: skip
    dates = twin.visit_dates()

    out_dir = tmp_path / "pacs"
    pdf = small_pdf(tmp_path / "report.pdf")
    args = ["export", "dicom", twin.id, str(out_dir), "--stow", orthanc.dicomweb]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "skipped RTSTRUCT (CTV)" in out and f"braintwin calibrate {twin.id}" in out
    summary = json.loads(out.strip().splitlines()[-1])
    files = written(out_dir)
    assert summary["written"] == len(files) == summary["stored"]
    objects = {"visit-1/seg.dcm", "visit-1/measurements_sr.dcm", "visit-2/seg.dcm",
               "visit-2/measurements_sr.dcm", "visit-2/report_pdf.dcm"}  # fmt: skip
    assert set(summary["objects"]) == objects
    names = " ".join(files)
    assert "pacs-nifti-test" not in names and twin.id not in names

    secret = load_or_create_secret(home)
    tracking: dict[str, set[str]] = {}
    for n, date in enumerate(dates, start=1):
        seg = hd.seg.segread(files[f"visit-{n}/seg.dcm"])
        sr = hd.sr.srread(files[f"visit-{n}/measurements_sr.dcm"])
        # A NIfTI visit's study UID is derived from the pseudonym and the shifted date.
        study = derived_uid(secret, twin.id, str(date), "study")
        assert seg.StudyInstanceUID == sr.StudyInstanceUID == study
        assert seg.PatientID == sr.PatientID == twin.id
        assert seg.StudyDate == sr.ContentDate == date.strftime("%Y%m%d")
        refs = {p.name for p in (out_dir / f"visit-{n}" / "reference").glob("*.dcm")}
        assert len(refs) == len(seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == 24
        measured = twin.store.load_visit(twin.id, date).measurements
        for group in sr.content.get_image_measurement_groups():
            region = group.tracking_identifier.split("(")[1].rstrip(")")
            tracking.setdefault(region, set()).add(group.tracking_uid)
            volume = next(m for m in group.get_measurements() if m.name.meaning == "Volume")
            assert volume.value == pytest.approx(measured[region]["volume_ml"])
    # One tracking UID per region across the visits: the regions are followed over time.
    assert set(tracking) == {"WT", "TC", "ET"} and all(len(u) == 1 for u in tracking.values())
    # The twin's own report (braintwin.twin.reporting.write_report_pdf), encapsulated whole.
    assert "visit-2: PDF from the twin's report" in out
    doc = pydicom.dcmread(files["visit-2/report_pdf.dcm"])
    document = bytes(doc.EncapsulatedDocument[: doc.EncapsulatedDocumentLength])
    assert document.startswith(b"%PDF-") and document.rstrip().endswith(b"%%EOF")
    assert doc.PatientID == twin.id and doc.StudyInstanceUID == seg.StudyInstanceUID

    # Orthanc: two studies (one per visit), every object there, listed by QIDO too.
    assert len(orthanc.get("/instances")) == len(files)
    qido = orthanc.get("/dicom-web/studies")
    study_uids = sorted(s["0020000D"]["Value"][0] for s in qido)
    assert study_uids == sorted(derived_uid(secret, twin.id, str(d), "study") for d in dates)
    last = derived_uid(secret, twin.id, str(dates[-1]), "study")
    modalities = sorted(
        s["00080060"]["Value"][0] for s in orthanc.get(f"/dicom-web/studies/{last}/series")
    )
    assert modalities == ["DOC", "MR", "SEG", "SR"]

    # After calibration the CTV structure set joins the last visit's study, same reference series.
    calibrate_twin(twin)
    code, out, err = run(["export", "dicom", twin.id, str(tmp_path / "again"), "--pdf", str(pdf),
                          "--stow", orthanc.dicomweb], capsys)  # fmt: skip
    assert code == 0, err
    assert "skipped RTSTRUCT" not in out
    again = written(tmp_path / "again")
    # Unchanged results keep their UIDs (content-derived): the PACS stores only what is new,
    # the structure set and the other PDF.
    for name in objects - {"visit-2/report_pdf.dcm"}:
        uid = pydicom.dcmread(again[name]).SOPInstanceUID
        assert uid == pydicom.dcmread(files[name]).SOPInstanceUID, name
    assert len(orthanc.get("/instances")) == len(files) + 2
    doc = pydicom.dcmread(again["visit-2/report_pdf.dcm"])  # --pdf: the given file, unchanged
    assert bytes(doc.EncapsulatedDocument[: doc.EncapsulatedDocumentLength]) == pdf.read_bytes()
    rt = pydicom.dcmread(again["visit-2/ctv_rtstruct.dcm"])
    seg2 = pydicom.dcmread(again["visit-2/seg.dcm"])
    assert rt.StudyInstanceUID == seg2.StudyInstanceUID == last
    assert rt.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == seg2.FrameOfReferenceUID
    assert {r.ROIName for r in rt.StructureSetROISequence} == {"GTV", "CTV_standard", "CTV_model"}
    # The derived reference series is the same on every export (a PACS de-duplicates it).
    assert {n for n in again if "/reference/" in n} == {n for n in files if "/reference/" in n}
    ref = "visit-2/reference/IM0001.dcm"
    assert pydicom.dcmread(again[ref]).SOPInstanceUID == pydicom.dcmread(files[ref]).SOPInstanceUID


@pytest.mark.slow
def test_dicom_study_results_reference_the_remapped_images(
    home: Path,
    shared_data: Path,
    tmp_path: Path,
    orthanc_factory: Callable[..., OrthancServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study_dir = shared_data / "dicom" / "siemens_skyra_mprage"
    if not study_dir.is_dir():
        pytest.skip("siemens_skyra_mprage study not available")
    original = pydicom.dcmread(next(iter(sorted(study_dir.glob("*.dcm")))))
    series = load_dicom_series(study_dir)
    shape = series.volume.shape
    ii, jj, kk = np.indices(shape)
    c = np.array(shape) // 2
    r = np.sqrt((ii - c[0]) ** 2 + (jj - c[1]) ** 2 + (kk - c[2]) ** 2)
    label = np.where(r < 5, 4, np.where(r < 10, 2, 0)).astype(np.uint8)
    seg_file = save_nifti(series.volume.with_data(label, Modality.SEG), tmp_path / "label.nii.gz")
    twin = Twin.open("pacs-dicom-test", create=True)
    opts = IngestOptions(segmentation=seg_file, classify=False, update_model=False, n4=False)
    twin.add_visit(study_dir, None, options=opts)
    visit = twin.visit()
    assert visit.meta["dicom"]["study_uid"] != str(original.StudyInstanceUID)
    assert len(visit.meta["dicom"]["series"]["t1"]["instance_uids"]) == shape[2]
    assert "instance_uids" not in visit.reference.meta  # they name the acquired grid only

    server = orthanc_factory(users={"pacs": "pacs-password"})
    monkeypatch.setenv("BRAINTWIN_DICOMWEB_URL", server.dicomweb)
    monkeypatch.setenv("BRAINTWIN_DICOMWEB_USER", "pacs")
    monkeypatch.setenv("BRAINTWIN_DICOMWEB_PASSWORD", "pacs-password")
    out_dir = tmp_path / "pacs"
    code, out, err = run(
        ["export", "dicom", twin.id, str(out_dir), "--images", str(study_dir)], capsys
    )
    assert code == 0, err
    assert "the ingested DICOM study and its images (remapped UIDs)" in out
    assert "pacs-password" not in out + err
    files = written(out_dir)
    images = [pydicom.dcmread(p) for n, p in files.items() if n.startswith("images/")]
    assert len(images) == shape[2] and not any("/reference/" in n for n in files)
    seg = hd.seg.segread(files["visit-1/seg.dcm"])
    sr = hd.sr.srread(files["visit-1/measurements_sr.dcm"])
    first = images[0]
    # Same (remapped) study and frame of reference as the de-identified images; the pseudonym
    # and the twin's shifted date; never an original UID.
    assert seg.StudyInstanceUID == sr.StudyInstanceUID == first.StudyInstanceUID
    assert first.StudyInstanceUID == visit.meta["dicom"]["study_uid"]
    assert seg.FrameOfReferenceUID == first.FrameOfReferenceUID
    assert seg.PatientID == first.PatientID == twin.id
    assert seg.StudyDate == first.StudyDate == visit.date.strftime("%Y%m%d")
    assert first.StudyInstanceUID != original.StudyInstanceUID
    # Every frame of the SEG lies on the image it references (same position in space).
    position = {d.SOPInstanceUID: np.asarray(d.ImagePositionPatient, float) for d in images}
    refs = seg.ReferencedSeriesSequence[0]
    assert refs.SeriesInstanceUID == first.SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in refs.ReferencedInstanceSequence} == set(position)
    for frame in seg.PerFrameFunctionalGroupsSequence:
        src = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        ipp = np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient, float)
        assert np.allclose(ipp, position[src], atol=1e-3)

    # On the PACS: one patient, one study holding the images, the SEG, the SR and the PDF.
    assert len(server.get("/patients")) == 1 and len(server.get("/studies")) == 1
    assert len(server.get("/instances")) == len(files)
    listed = server.get(f"/dicom-web/studies/{first.StudyInstanceUID}/series")
    assert sorted(s["00080060"]["Value"][0] for s in listed) == ["DOC", "MR", "SEG", "SR"]
    instances = server.get(
        f"/dicom-web/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}/instances"
    )
    assert {i["00080018"]["Value"][0] for i in instances} == set(position)
