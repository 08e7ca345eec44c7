"""DICOM series reader and writer: geometry, rescaling and every kind of broken series."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from braintwin.errors import DicomSeriesError, InputError
from braintwin.io import load_dicom_folder, load_dicom_series, load_nifti, write_dicom_series
from braintwin.io.dcm2niix import dcm2niix_executable
from braintwin.types import Modality, Volume


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    return np.asanyarray(img.dataobj), img.affine


def _rotation(deg: float, axis: int) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _volume(rng: np.random.Generator, shape=(6, 5, 4), affine=None) -> Volume:
    aff = np.diag([0.9, 1.1, 2.0, 1.0]) if affine is None else affine
    return Volume(rng.integers(0, 3000, shape).astype(np.int16), aff, Modality.T2)


def test_round_trip_oblique(tmp_path: Path, rng: np.random.Generator) -> None:
    aff = np.eye(4)
    aff[:3, :3] = _rotation(20, 0) @ _rotation(-35, 2) @ np.diag([0.8, 1.2, 3.0])
    aff[:3, 3] = [-40.0, 12.5, 7.0]
    vol = _volume(rng, affine=aff)
    write_dicom_series(vol, tmp_path / "s", header={"SeriesDescription": "AX T2"})
    series = load_dicom_series(tmp_path / "s")
    got_d, got_a = _canonical(series.volume.data, series.volume.affine)
    exp_d, exp_a = _canonical(vol.data, vol.affine)
    np.testing.assert_array_equal(got_d, exp_d)
    np.testing.assert_allclose(got_a, exp_a, atol=1e-4)
    assert series.modality is Modality.T2 and series.n_slices == 4
    assert series.volume.meta["source"] == "dicom"


def test_float_data_rescaled(tmp_path: Path, rng: np.random.Generator) -> None:
    vol = Volume(rng.normal(50.0, 20.0, (5, 5, 3)), np.eye(4))
    write_dicom_series(vol, tmp_path / "s")
    got = load_dicom_series(tmp_path / "s").volume
    assert got.data.dtype == np.float32
    step = (vol.data.max() - vol.data.min()) / 65534
    got_d, _ = _canonical(got.data, got.affine)
    exp_d, _ = _canonical(vol.data, vol.affine)
    assert np.max(np.abs(got_d - exp_d)) <= step  # quantisation of int16 storage only


def test_unsigned_16_bit_stored_exactly(tmp_path: Path, rng: np.random.Generator) -> None:
    vol = Volume(rng.integers(0, 65536, (5, 4, 3)).astype(np.uint16), np.eye(4))
    write_dicom_series(vol, tmp_path / "s")
    got = load_dicom_series(tmp_path / "s").volume
    assert got.data.dtype == np.uint16
    np.testing.assert_array_equal(
        _canonical(got.data, got.affine)[0], _canonical(vol.data, vol.affine)[0]
    )


def test_unreadable_file_in_series(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permission denied as the OS reports it (simulated: the suite may run as root)."""
    write_dicom_series(_volume(rng), tmp_path / "s")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pydicom, "dcmread", denied)
    with pytest.raises(InputError, match="permission denied"):
        load_dicom_series(tmp_path / "s")


def _real_mr_series(
    folder: Path, n: int = 3, dz: float = 4.0, source: str = "MR_small.dcm", **changes: object
) -> list[Path]:
    """A series from pydicom's real MR slice, restacked at ``dz`` mm (same pixels each slice)."""
    folder.mkdir()
    src = pydicom.dcmread(get_testdata_file(source))
    series_uid = generate_uid()
    paths = []
    for k in range(n):
        ds = copy.deepcopy(src)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        x, y, z = (float(v) for v in src.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + dz * k]
        ds.InstanceNumber = k + 1
        for key, value in changes.items():
            setattr(ds, key, value)
        path = folder / f"slice{n - k:03d}"  # reversed names: order must come from geometry
        ds.save_as(path)
        paths.append(path)
    return paths


def test_affine_and_pixels_of_a_real_mr_slice_stack(tmp_path: Path) -> None:
    _real_mr_series(tmp_path / "mr", n=3, dz=4.0)
    src = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    vol = load_dicom_series(tmp_path / "mr").volume
    x, y, z = (float(v) for v in src.ImagePositionPatient)
    dr, dc = (float(v) for v in src.PixelSpacing)
    # IOP = (1,0,0, 0,1,0): columns go to patient-left (L = -R), rows to posterior (P = -A)
    expected = np.array(
        [[-dc, 0, 0, -x], [0, -dr, 0, -y], [0, 0, 4.0, z], [0, 0, 0, 1]], dtype=float
    )
    np.testing.assert_allclose(vol.affine, expected, atol=1e-6)
    assert vol.orientation == "LPS"
    assert vol.shape == (int(src.Columns), int(src.Rows), 3)
    np.testing.assert_array_equal(vol.data[:, :, 1], src.pixel_array.T)


def test_rescale_slope_intercept_applied(tmp_path: Path) -> None:
    _real_mr_series(tmp_path / "mr", RescaleSlope="2", RescaleIntercept="-5")
    src = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    vol = load_dicom_series(tmp_path / "mr").volume
    np.testing.assert_allclose(vol.data[:, :, 0], src.pixel_array.T * 2.0 - 5.0)


def test_missing_slice_reports_position(tmp_path: Path, rng: np.random.Generator) -> None:
    paths = write_dicom_series(_volume(rng, shape=(4, 4, 6)), tmp_path / "s")
    paths[2].unlink()  # slice k=2 at z = 2 mm * 2 = 4 mm
    with pytest.raises(DicomSeriesError, match=r"1 slice\(s\) missing.*4\.00 mm"):
        load_dicom_series(tmp_path / "s")


def test_mixed_series_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    write_dicom_series(_volume(rng), tmp_path / "a")
    write_dicom_series(_volume(rng, shape=(6, 5, 3)), tmp_path / "b")
    for p in (tmp_path / "b").iterdir():
        p.rename(tmp_path / "a" / f"b_{p.name}")
    with pytest.raises(DicomSeriesError, match=r"mixes 2 DICOM series \(4, 3 slices\)") as err:
        load_dicom_series(tmp_path / "a")
    assert "sub-folder" in str(err.value)


def _merge(tmp_path: Path, first: Volume, second: Volume) -> Path:
    uid = generate_uid()
    write_dicom_series(first, tmp_path / "a", header={"SeriesInstanceUID": uid})
    write_dicom_series(second, tmp_path / "b", header={"SeriesInstanceUID": uid})
    for p in (tmp_path / "b").iterdir():
        p.rename(tmp_path / "a" / f"b_{p.name}")
    return tmp_path / "a"


def test_inconsistent_matrix_size(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = _merge(tmp_path, _volume(rng), _volume(rng, shape=(7, 5, 4)))
    with pytest.raises(DicomSeriesError, match="matrix sizes"):
        load_dicom_series(folder)


def test_inconsistent_orientation(tmp_path: Path, rng: np.random.Generator) -> None:
    tilted = np.eye(4)
    tilted[:3, :3] = _rotation(10, 2) @ np.diag([0.9, 1.1, 2.0])
    tilted[2, 3] = 100.0
    folder = _merge(tmp_path, _volume(rng), _volume(rng, affine=tilted))
    with pytest.raises(DicomSeriesError, match="orientations"):
        load_dicom_series(folder)


def test_duplicate_positions(tmp_path: Path, rng: np.random.Generator) -> None:
    paths = write_dicom_series(_volume(rng), tmp_path / "s")
    ds = pydicom.dcmread(paths[1])
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(tmp_path / "s" / "echo2.dcm")
    with pytest.raises(DicomSeriesError, match="more than once"):
        load_dicom_series(tmp_path / "s")


def test_irregular_spacing(tmp_path: Path, rng: np.random.Generator) -> None:
    paths = write_dicom_series(_volume(rng, shape=(4, 4, 6)), tmp_path / "s")
    ds = pydicom.dcmread(paths[2])
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    ds.ImagePositionPatient = [x, y, z + 1.0]  # 2 mm spacing -> gaps 2, 3, 1, 2, 2
    ds.save_as(paths[2])
    with pytest.raises(DicomSeriesError, match="irregular slice spacing"):
        load_dicom_series(tmp_path / "s")


def test_non_dicom_files_ignored_with_warning(tmp_path: Path, rng: np.random.Generator) -> None:
    write_dicom_series(_volume(rng), tmp_path / "s")
    (tmp_path / "s" / "notes.txt").write_text("scanned on tuesday")
    (tmp_path / "s" / "thumbs.db").write_bytes(b"\x00" * 300)
    series = load_dicom_series(tmp_path / "s")
    assert series.warnings == ["ignored 2 non-image or non-DICOM file(s)"]
    assert series.volume.meta["warnings"] == series.warnings


def test_no_dicom_images(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "readme.txt").write_text("nothing here")
    with pytest.raises(DicomSeriesError, match="no DICOM images"):
        load_dicom_series(tmp_path / "s")
    with pytest.raises(InputError, match="not found"):
        load_dicom_series(tmp_path / "absent")


def test_truncated_pixel_data(tmp_path: Path, rng: np.random.Generator) -> None:
    paths = write_dicom_series(_volume(rng, shape=(32, 32, 3)), tmp_path / "s")
    raw = paths[1].read_bytes()
    paths[1].write_bytes(raw[: len(raw) - 600])
    with pytest.raises(DicomSeriesError):
        load_dicom_series(tmp_path / "s")


def test_multiframe_converted_with_dcm2niix(tmp_path: Path, rng: np.random.Generator) -> None:
    """A legacy-converted enhanced MR object (one multi-frame file) goes through dcm2niix."""
    from highdicom.legacy import LegacyConvertedEnhancedMRImage

    if dcm2niix_executable() is None:
        pytest.skip("dcm2niix not installed")
    aff = np.diag([0.9, 1.1, 2.0, 1.0])
    aff[:3, 3] = [10.0, -20.0, 30.0]
    vol = _volume(rng, shape=(12, 10, 5), affine=aff)
    singles = [
        pydicom.dcmread(p)
        for p in write_dicom_series(vol, tmp_path / "single", header=_LEGACY_HEADER)
    ]
    multi = LegacyConvertedEnhancedMRImage(
        singles,
        series_instance_uid=generate_uid(),
        series_number=2,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    )
    multi.SeriesDescription = "AX T2"  # the converter starts a new, undescribed series
    (tmp_path / "multi").mkdir()
    multi.save_as(tmp_path / "multi" / "enhanced.dcm")
    series = load_dicom_series(tmp_path / "multi")
    got_d, got_a = _canonical(series.volume.data, series.volume.affine)
    exp_d, exp_a = _canonical(vol.data, vol.affine)
    np.testing.assert_array_equal(got_d, exp_d)
    np.testing.assert_allclose(got_a, exp_a, atol=1e-3)
    assert series.modality is Modality.T2


_LEGACY_HEADER = {  # the attributes highdicom's legacy converter requires
    "SeriesDescription": "AX T2",
    "StudyTime": "101010",
    "AccessionNumber": "A1",
    "StudyID": "1",
    "PatientBirthDate": "19700101",
    "PatientSex": "F",
    "ReferringPhysicianName": "R",
    "Manufacturer": "braintwin",
    "SeriesNumber": "1",
}


def test_undecodable_compressed_series_falls_back_to_dcm2niix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JPEG 2000 slices whose Python decoder is absent (simulated) are decoded by dcm2niix."""
    if dcm2niix_executable() is None:
        pytest.skip("dcm2niix not installed")
    _real_mr_series(tmp_path / "j2k", n=3, source="MR_small_jp2klossless.dcm")
    direct = load_dicom_series(tmp_path / "j2k").volume  # pydicom's own decoder
    monkeypatch.setattr(
        pydicom.dataset.Dataset,
        "pixel_array",
        property(lambda self: (_ for _ in ()).throw(RuntimeError("no decoder"))),
    )
    fallback = load_dicom_series(tmp_path / "j2k").volume
    got_d, got_a = _canonical(fallback.data, fallback.affine)
    exp_d, exp_a = _canonical(direct.data, direct.affine)
    np.testing.assert_array_equal(got_d, exp_d)
    np.testing.assert_allclose(got_a, exp_a, atol=1e-3)


@pytest.mark.parametrize(
    "source",
    ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
     "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"],
)  # fmt: skip
def test_real_transfer_syntaxes_agree(tmp_path: Path, source: str) -> None:
    _real_mr_series(tmp_path / "ref", n=3)
    _real_mr_series(tmp_path / "alt", n=3, source=source)
    ref = load_dicom_series(tmp_path / "ref").volume
    alt = load_dicom_series(tmp_path / "alt").volume
    np.testing.assert_array_equal(alt.data, ref.data)
    np.testing.assert_allclose(alt.affine, ref.affine)


def test_real_truncated_file_refused(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    shutil.copy(get_testdata_file("MR_truncated.dcm"), tmp_path / "s" / "a.dcm")
    with pytest.raises(DicomSeriesError, match="truncated"):
        load_dicom_series(tmp_path / "s")


def test_folder_of_series_folders(tmp_path: Path, rng: np.random.Generator) -> None:
    write_dicom_series(_volume(rng), tmp_path / "study" / "1", header={"SeriesDescription": "T2"})
    write_dicom_series(
        _volume(rng, shape=(6, 5, 3)),
        tmp_path / "study" / "2",
        header={"SeriesDescription": "FLAIR"},
    )
    found = load_dicom_folder(tmp_path / "study")
    assert [s.modality for s in found] == [Modality.T2, Modality.FLAIR]
    assert [s.n_slices for s in found] == [4, 3]
    with pytest.raises(DicomSeriesError, match="parent folder"):
        load_dicom_series(tmp_path / "study")


def test_writer_refuses_non_empty_folder_and_bad_keyword(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    write_dicom_series(_volume(rng), tmp_path / "s")
    with pytest.raises(InputError, match="not empty"):
        write_dicom_series(_volume(rng), tmp_path / "s")
    with pytest.raises(InputError, match="unknown DICOM keyword"):
        write_dicom_series(_volume(rng), tmp_path / "t", header={"PatientNickname": "x"})


def test_matches_dcm2niix(tmp_path: Path, brats_case: Path) -> None:
    """Cross-check geometry and voxels against dcm2niix on a crop of a real BraTS volume."""
    exe = dcm2niix_executable()  # a declared dependency: beside the interpreter in the venv
    assert exe is not None, "dcm2niix (PyPI package) is missing from the environment"
    full = load_nifti(next(brats_case.glob("*_t1ce.nii.gz")), Modality.T1CE)
    crop = full.data[70:150, 60:160, 60:80]
    aff = full.affine.copy()
    aff[:3, 3] = full.index_to_world([70, 60, 60])
    vol = Volume(crop, aff, Modality.T1CE)
    write_dicom_series(vol, tmp_path / "dcm", header={"SeriesDescription": "T1 POST GAD"})
    out = tmp_path / "nii"
    out.mkdir()
    subprocess.run(
        [exe, "-z", "n", "-f", "x", "-o", str(out), str(tmp_path / "dcm")],
        check=True,
        capture_output=True,
    )
    ref = nib.load(str(out / "x.nii"))
    ours = load_dicom_series(tmp_path / "dcm").volume
    ref_d, ref_a = _canonical(np.asanyarray(ref.dataobj), ref.affine)
    our_d, our_a = _canonical(ours.data, ours.affine)
    np.testing.assert_allclose(our_a, ref_a, atol=1e-3)
    np.testing.assert_array_equal(our_d, ref_d)
    exp_d, exp_a = _canonical(vol.data, vol.affine)
    np.testing.assert_array_equal(our_d, exp_d)
    np.testing.assert_allclose(our_a, exp_a, atol=1e-4)
