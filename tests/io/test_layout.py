"""``read_visit_images``: layouts, modality overrides, digests, root confinement, bad input."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest

from braintwin.errors import DicomSeriesError, InputError
from braintwin.io import read_visit_images, safe_path, save_nifti, write_dicom_series
from braintwin.types import Modality, Volume

AFFINE = np.diag([6.0, 6.0, 10.0, 1.0])  # 48 x 42 x 50 mm: big enough to be a head
SHAPE = (8, 7, 5)


def _vol(rng: np.random.Generator, shape=SHAPE, affine=AFFINE) -> Volume:
    return Volume(rng.integers(0, 500, shape).astype(np.int16), affine)


def _case(folder: Path, rng: np.random.Generator, names=("t1", "t1ce", "t2", "flair")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        save_nifti(_vol(rng), folder / f"Case_001_{n}.nii.gz")
    return folder


def _seg(shape=SHAPE) -> Volume:
    seg = np.zeros(shape, np.uint8)
    seg[2:5, 2:5, 1:3] = 2
    seg[3, 3, 2] = 4
    seg[3, 4, 2] = 1
    return Volume(seg, AFFINE, Modality.SEG)


def test_brats_style_folder(tmp_path: Path, rng: np.random.Generator) -> None:
    case = _case(tmp_path / "Case_001", rng)
    save_nifti(_seg(), case / "Case_001_seg.nii.gz")
    images = read_visit_images(case)
    assert set(images.volumes) == set(Modality.mri())
    assert all(v.modality is m for m, v in images.volumes.items())
    assert images.segmentation is not None and images.segmentation.modality is Modality.SEG
    assert sorted(images.sources) == [
        "nifti:flair",
        "nifti:seg",
        "nifti:t1",
        "nifti:t1ce",
        "nifti:t2",
    ]
    assert images.study_date is None and images.patient_key is None
    assert len(images.digest) == 64


def test_real_brats_case(brats_case: Path) -> None:
    images = read_visit_images(brats_case, root=brats_case.parent)
    assert set(images.volumes) == set(Modality.mri())
    assert images.segmentation is not None
    assert set(np.unique(images.segmentation.data)) <= {0, 1, 2, 4}
    assert not any(brats_case.name in s for s in images.sources)


def test_progress_reported(tmp_path: Path, rng: np.random.Generator) -> None:
    case = _case(tmp_path / "c", rng, names=("t1ce", "flair"))
    calls: list[tuple[str, float]] = []
    read_visit_images(case, progress=lambda m, f: calls.append((m, f)))
    fractions = [f for _, f in calls]
    assert len(calls) == 3 and fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)


def test_digest_depends_on_bytes_not_names(tmp_path: Path, rng: np.random.Generator) -> None:
    case = _case(tmp_path / "a", rng, names=("t1ce", "flair"))
    first = read_visit_images(case).digest
    assert read_visit_images(case).digest == first
    (case / "Case_001_t1ce.nii.gz").rename(case / "renamed_t1ce.nii.gz")
    assert read_visit_images(case).digest == first
    save_nifti(_vol(rng), case / "renamed_t1ce.nii.gz")
    assert read_visit_images(case).digest != first


def test_single_file(tmp_path: Path, rng: np.random.Generator) -> None:
    path = save_nifti(_vol(rng), tmp_path / "patient_flair.nii.gz")
    assert list(read_visit_images(path).volumes) == [Modality.FLAIR]
    anon = save_nifti(_vol(rng), tmp_path / "scan.nii.gz")
    with pytest.raises(InputError, match=r"scan\.nii\.gz: \?.*--modality"):
        read_visit_images(anon)
    assert list(read_visit_images(anon, modality=Modality.T1CE).volumes) == [Modality.T1CE]


def test_unknown_modality_lists_guesses(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "visit"
    folder.mkdir()
    save_nifti(_vol(rng), folder / "a_t1ce.nii.gz")
    save_nifti(_vol(rng), folder / "mystery.nii.gz")
    with pytest.raises(InputError, match=r"a_t1ce\.nii\.gz: t1ce; mystery\.nii\.gz: \?") as err:
        read_visit_images(folder)
    assert "--modality FILE=SEQUENCE" in str(err.value)
    images = read_visit_images(folder, modalities={"mystery": Modality.FLAIR})
    assert set(images.volumes) == {Modality.T1CE, Modality.FLAIR}
    images = read_visit_images(folder, modalities={"mystery.nii.gz": Modality.T2})
    assert set(images.volumes) == {Modality.T1CE, Modality.T2}


def test_override_wins_over_guess_and_must_match(tmp_path: Path, rng: np.random.Generator) -> None:
    case = _case(tmp_path / "c", rng, names=("t1", "t2"))
    images = read_visit_images(case, modalities={"Case_001_t1": Modality.T1CE})
    assert set(images.volumes) == {Modality.T1CE, Modality.T2}
    with pytest.raises(InputError, match="match no input"):
        read_visit_images(case, modalities={"other_file": Modality.T1})
    with pytest.raises(InputError, match="one --modality given for 2 inputs"):
        read_visit_images(case, modality=Modality.T1)
    with pytest.raises(InputError, match="unknown modality 't1c'"):
        read_visit_images(case, modalities={"Case_001_t1": "t1c"})
    # plain strings (as the CLI passes them) are accepted, case-insensitively
    images = read_visit_images(case, modalities={"Case_001_t1": "FLAIR"})
    assert set(images.volumes) == {Modality.FLAIR, Modality.T2}


def test_two_files_claim_one_modality(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = _case(tmp_path / "v", rng, names=("t1ce",))
    save_nifti(_vol(rng), folder / "AX_T1_POST.nii.gz")
    with pytest.raises(InputError, match="2 inputs claim t1ce"):
        read_visit_images(folder)


def test_non_input_modality_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    path = save_nifti(_vol(rng), tmp_path / "x.nii.gz")
    with pytest.raises(InputError, match="not an input sequence"):
        read_visit_images(path, modality=Modality.DENSITY)


def test_segmentation_checks(tmp_path: Path, rng: np.random.Generator) -> None:
    case = _case(tmp_path / "c", rng, names=("t1ce",))
    bad = _seg().data.copy()
    bad[0, 0, 0] = 3
    save_nifti(Volume(bad, AFFINE), case / "Case_001_seg.nii.gz")
    with pytest.raises(InputError, match=r"label value\(s\) \[3\]"):
        read_visit_images(case)
    save_nifti(_seg(shape=(9, 7, 5)), case / "Case_001_seg.nii.gz")
    with pytest.raises(InputError, match="not on the grid"):
        read_visit_images(case)


def test_fields_of_view_must_overlap(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = _case(tmp_path / "c", rng, names=("t1ce",))
    far = AFFINE.copy()
    far[:3, 3] = [300.0, 0.0, 0.0]
    save_nifti(_vol(rng, affine=far), folder / "Case_001_flair.nii.gz")
    with pytest.raises(InputError, match="cover different regions"):
        read_visit_images(folder)
    # a different grid of the same head is fine (registration's job)
    near = np.diag([3.0, 3.0, 5.0, 1.0])
    save_nifti(_vol(rng, shape=(16, 14, 10), affine=near), folder / "Case_001_flair.nii.gz")
    assert set(read_visit_images(folder).volumes) == {Modality.T1CE, Modality.FLAIR}


def test_root_confinement(tmp_path: Path, rng: np.random.Generator) -> None:
    root = tmp_path / "data"
    case = _case(root / "c", rng, names=("t1ce",))
    outside = _case(tmp_path / "elsewhere", rng, names=("flair",))
    assert read_visit_images(case, root=root).volumes
    with pytest.raises(InputError, match="path escapes the data folder"):
        read_visit_images(root / ".." / "elsewhere", root=root)
    with pytest.raises(InputError, match="path escapes the data folder"):
        read_visit_images(outside, root=root)
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="path escapes the data folder"):
        read_visit_images(root / "link", root=root)
    # a symlinked file inside an allowed folder must not smuggle outside data in either
    os.symlink(outside / "Case_001_flair.nii.gz", case / "Case_001_flair.nii.gz")
    with pytest.raises(InputError, match="path escapes the data folder"):
        read_visit_images(case, root=root)
    assert safe_path(case, root) == case.resolve()


def test_empty_and_missing_and_junk(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_visit_images(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no NIfTI files or DICOM series"):
        read_visit_images(tmp_path / "empty")
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(InputError, match="neither a NIfTI file nor a DICOM folder"):
        read_visit_images(junk)


def test_empty_nifti_in_folder(tmp_path: Path, rng: np.random.Generator) -> None:
    case = _case(tmp_path / "c", rng, names=("t1ce",))
    (case / "Case_001_flair.nii.gz").touch()
    with pytest.raises(InputError, match="0 bytes"):
        read_visit_images(case)


def _hdr(desc: str, pid: str = "MRN-1", date: str = "20240315") -> dict[str, str]:
    return {"SeriesDescription": desc, "PatientID": pid, "StudyDate": date}


def test_dicom_series_folders_and_nifti_mixed(tmp_path: Path, rng: np.random.Generator) -> None:
    visit = tmp_path / "visit"
    write_dicom_series(_vol(rng), visit / "series1", header=_hdr("AX T2 FSE"))
    write_dicom_series(_vol(rng), visit / "series2", header=_hdr("FLAIR", date="20240314"))
    save_nifti(_vol(rng), visit / "t1ce.nii.gz")
    images = read_visit_images(visit, secret=b"k" * 32)
    assert set(images.volumes) == {Modality.T2, Modality.FLAIR, Modality.T1CE}
    assert sorted(images.sources) == ["dicom:flair:5 slices", "dicom:t2:5 slices", "nifti:t1ce"]
    assert images.study_date == dt.date(2024, 3, 14)
    assert images.patient_key == "MRN-1"
    assert images.headers[Modality.T2]["PatientIdentityRemoved"] == "YES"
    one = read_visit_images(visit / "series1", secret=b"k" * 32)
    assert list(one.volumes) == [Modality.T2]
    # override a series by its folder name
    images = read_visit_images(visit, modalities={"series1": Modality.T1}, secret=b"k" * 32)
    assert Modality.T1 in images.volumes and Modality.T2 not in images.volumes


def test_dicom_series_of_two_patients_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    visit = tmp_path / "visit"
    write_dicom_series(_vol(rng), visit / "a", header=_hdr("T2", pid="MRN-1"))
    write_dicom_series(_vol(rng), visit / "b", header=_hdr("FLAIR", pid="MRN-2"))
    with pytest.raises(InputError, match="2 different patients") as err:
        read_visit_images(visit)
    assert "MRN" not in str(err.value)


def test_broken_dicom_series_in_visit(tmp_path: Path, rng: np.random.Generator) -> None:
    visit = tmp_path / "visit"
    paths = write_dicom_series(_vol(rng), visit / "a", header=_hdr("T2"))
    paths[2].unlink()
    with pytest.raises(DicomSeriesError, match="missing"):
        read_visit_images(visit)
    with pytest.raises(InputError, match="single DICOM file"):
        read_visit_images(paths[0])


def test_series_of_one_study_share_remapped_study_uid(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    visit = tmp_path / "visit"
    study = "1.2.826.0.1.3680043.2.1125.9.1"
    write_dicom_series(_vol(rng), visit / "a", header={**_hdr("T2"), "StudyInstanceUID": study})
    write_dicom_series(_vol(rng), visit / "b", header={**_hdr("FLAIR"), "StudyInstanceUID": study})
    images = read_visit_images(visit)  # no secret: one throw-away key for the whole visit
    uids = {h["StudyInstanceUID"] for h in images.headers.values()}
    assert len(uids) == 1 and study not in uids


def test_dicomdir_and_non_image_dicom_ignored(tmp_path: Path, rng: np.random.Generator) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    visit = tmp_path / "export"
    write_dicom_series(_vol(rng), visit / "PA0" / "ST0" / "SE0", header=_hdr("AX T1 POST"))
    report = Dataset()
    report.file_meta = FileMetaDataset()
    report.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    report.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    report.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID
    (visit / "PA0" / "ST0" / "SR0").mkdir()
    report.save_as(visit / "PA0" / "ST0" / "SR0" / "report.dcm", enforce_file_format=True)
    report.save_as(visit / "DICOMDIR", enforce_file_format=True)
    images = read_visit_images(visit)
    assert list(images.volumes) == [Modality.T1CE]
    assert images.warnings == ["ignored a folder of 1 non-image DICOM file(s)"]
    with pytest.raises(InputError, match="hold no pixel data"):
        read_visit_images(visit / "PA0" / "ST0" / "SR0")


def test_top_level_series_overridden_by_folder_name(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    write_dicom_series(_vol(rng), tmp_path / "series7", header=_hdr("Series 7"))
    with pytest.raises(InputError, match=r"series7: \?"):
        read_visit_images(tmp_path / "series7")
    images = read_visit_images(tmp_path / "series7", modalities={"series7": Modality.FLAIR})
    assert images.sources == ["dicom:flair:5 slices"]


def test_symlink_inside_root_is_fine(tmp_path: Path, rng: np.random.Generator) -> None:
    root = tmp_path / "data"
    _case(root / "shared", rng, names=("flair",))
    case = _case(root / "c", rng, names=("t1ce",))
    (case / "extra").symlink_to(root / "shared", target_is_directory=True)
    images = read_visit_images(case, root=root)
    assert set(images.volumes) == {Modality.T1CE, Modality.FLAIR}
