"""Hostile and broken inputs: every reader answers with a one-line ``BraintwinError``.

Each test rebuilds the bad bytes of an escape found by fuzzing (issue 16) so the fix stays
fixed: nibabel HeaderDataError (vox_offset, NaN intercept, extension content, data code 0),
OverflowError from a memory map, lying dimensions (numpy could not allocate 51 GiB), gzip
bombs, silently repaired voxel sizes, DICOM without Rows/Columns, unknown VRs, bad transfer
syntax UIDs, corrupt slice positions (a hang), duplicate/missing slices.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from braintwin.errors import BraintwinError, DicomSeriesError, InputError
from braintwin.io import load_dicom_series, load_nifti, write_dicom_series
from braintwin.io.limits import check_declared, current_limits
from braintwin.types import Modality, Volume

AFFINE = np.diag([1.0, 1.0, 2.0, 1.0])


def _nii(tmp_path: Path, name: str = "img.nii", data: np.ndarray | None = None) -> Path:
    arr = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4) if data is None else data
    img = nib.Nifti1Image(arr, AFFINE)
    img.set_qform(AFFINE, code=1)
    img.set_sform(AFFINE, code=1)
    path = tmp_path / name
    nib.save(img, str(path))
    return path


def _patch(path: Path, offset: int, fmt: str, value: float, gz: bool = False) -> Path:
    raw = bytearray(path.read_bytes())
    struct.pack_into("<" + fmt, raw, offset, value)
    out = path.with_name(path.stem + "_bad.nii" + (".gz" if gz else ""))
    out.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    return out


def _one_line(err: pytest.ExceptionInfo[BraintwinError]) -> str:
    text = str(err.value)
    assert "\n" not in text and text.strip()
    return text


@pytest.mark.parametrize(
    ("what", "offset", "fmt", "value", "match"),
    [
        ("vox_offset huge (was OverflowError from memmap)", 108, "f", 3e9, "offset"),
        ("vox_offset inside the header", 108, "f", 100.0, "offset"),
        ("vox_offset NaN", 108, "f", float("nan"), "offset"),
        ("NaN intercept (was HeaderDataError)", 116, "f", float("nan"), "scaling"),
        ("infinite slope", 112, "f", float("inf"), "scaling"),
        ("data code 0 (was HeaderDataError)", 70, "h", 0, "voxel data type"),
        ("complex data", 70, "h", 32, "unsupported voxel type"),
        ("RGB data", 70, "h", 128, "unsupported voxel type"),
        ("zero pixdim (nibabel sets it to 1)", 84, "f", 0.0, "non-positive"),
        ("negative pixdim (nibabel takes abs)", 80, "f", -1.0, "non-positive"),
        ("NaN pixdim", 88, "f", float("nan"), "non-positive"),
        ("dim[0] = 0", 40, "h", 0, "dimension count"),
        ("negative dim", 44, "h", -3, "empty or negative"),
        ("sform scale absurd", 280, "f", 1e6, "implausible voxel sizes"),
        ("sform voxel 1 micrometre", 280, "f", 1e-3, "implausible voxel sizes"),
        ("sform code unknown", 254, "h", 77, "sform_code"),
        ("bad magic", 344, "4s", 0, "magic"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_nifti_header_fields(
    tmp_path: Path, what: str, offset: int, fmt: str, value: float, match: str, gz: bool
) -> None:
    src = _nii(tmp_path)
    if fmt == "4s":
        raw = bytearray(src.read_bytes())
        raw[344:348] = b"xyz\x00"
        bad = tmp_path / ("m.nii.gz" if gz else "m.nii")
        bad.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    else:
        bad = _patch(src, offset, fmt, value, gz)
    with pytest.raises(InputError, match=match) as err:
        load_nifti(bad)
    _one_line(err)


def test_singular_sform(tmp_path: Path) -> None:
    src = _nii(tmp_path)
    raw = bytearray(src.read_bytes())
    struct.pack_into("<4f", raw, 280, 1.0, 1.0, 0.0, 0.0)  # voxel axes i and j both along x
    struct.pack_into("<4f", raw, 296, 0.0, 0.0, 0.0, 0.0)
    bad = tmp_path / "sing.nii"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="singular"):
        load_nifti(bad)


def test_qform_sform_disagree(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.zeros((6, 5, 4), np.int16), AFFINE)
    img.set_sform(AFFINE, code=1)
    shifted = AFFINE.copy()
    shifted[:3, 3] = [20.0, 0, 0]
    img.set_qform(shifted, code=1)
    path = tmp_path / "two.nii.gz"
    nib.save(img, str(path))
    with pytest.raises(InputError, match=r"qform and sform .* disagree \(origins\)"):
        load_nifti(path)
    img.set_qform(AFFINE * np.array([2.0, 1, 1, 1])[None, :], code=1)  # another voxel size
    nib.save(img, str(path))
    with pytest.raises(InputError, match="disagree \\(voxel sizes\\)"):
        load_nifti(path)


def test_qform_sform_in_different_spaces_use_sform_with_a_note(tmp_path: Path) -> None:
    """qform = scanner (code 1), sform = template (code 4): two spaces, not a contradiction."""
    img = nib.Nifti1Image(np.ones((6, 5, 4), np.int16), AFFINE)
    template = AFFINE.copy()
    template[:3, 3] = [-90.0, -126.0, -72.0]
    img.set_sform(template, code=4)
    img.set_qform(AFFINE, code=1)
    path = tmp_path / "mni.nii.gz"
    nib.save(img, str(path))
    vol = load_nifti(path)
    np.testing.assert_allclose(vol.affine, template)
    assert "different spaces" in vol.meta["warnings"][0]


def test_sheared_affine_round_trips(tmp_path: Path) -> None:
    """A sheared affine has no qform: save_nifti writes the sform only, so it reads back."""
    from braintwin.io import save_nifti

    sheared = AFFINE.copy()
    sheared[0, 1] = 0.3
    path = save_nifti(Volume(np.ones((6, 5, 4), np.int16), sheared), tmp_path / "shear.nii.gz")
    assert int(nib.load(str(path)).header["qform_code"]) == 0
    np.testing.assert_allclose(load_nifti(path).affine, sheared, atol=1e-6)


def test_qform_sform_float_noise_accepted(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.ones((6, 5, 4), np.int16), AFFINE)
    img.set_sform(AFFINE + 1e-4, code=1)
    img.set_qform(AFFINE, code=1)
    path = tmp_path / "ok.nii.gz"
    nib.save(img, str(path))
    assert load_nifti(path).shape == (6, 5, 4)


def test_extension_with_bad_content_is_ignored_not_fatal(tmp_path: Path) -> None:
    """A corrupt extension (nibabel: 'failed to read extension content') cannot break a read:
    extensions are never parsed (braintwin drops them anyway)."""
    src = _nii(tmp_path)
    raw = bytearray(src.read_bytes())
    raw[348:352] = b"\x01\x00\x00\x00"
    ext = struct.pack("<ii", 2**31 - 1, 4) + b"junk" * 4  # declares 2 GiB of content
    body = bytes(raw[:352]) + ext + bytes(raw[352:])
    patched = bytearray(body)
    struct.pack_into("<f", patched, 108, 352.0 + len(ext))
    path = tmp_path / "ext.nii"
    path.write_bytes(bytes(patched))
    np.testing.assert_array_equal(load_nifti(path).data, load_nifti(src).data)


def test_lying_dimensions_refused_before_allocation(tmp_path: Path) -> None:
    """dim = 4096^3 float64 (512 GiB) from a 500-byte file: refused by size, nothing allocated."""
    src = _nii(tmp_path)
    raw = bytearray(src.read_bytes())
    struct.pack_into("<hhhh", raw, 40, 3, 4096, 4096, 4096)
    struct.pack_into("<hh", raw, 70, 64, 64)
    for gz in (False, True):
        bad = tmp_path / ("big.nii.gz" if gz else "big.nii")
        bad.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
        with pytest.raises(InputError, match="more than the limit") as err:
            load_nifti(bad)
        assert "BRAINTWIN_MAX_VOLUME_BYTES" in str(err.value)


def test_uncompressed_shorter_than_declared(tmp_path: Path) -> None:
    src = _nii(tmp_path)
    raw = bytearray(src.read_bytes())
    struct.pack_into("<hhhh", raw, 40, 3, 200, 200, 200)
    bad = tmp_path / "short.nii"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="truncated: the header declares"):
        load_nifti(bad)


def test_gzip_bomb_refused_by_ratio(tmp_path: Path) -> None:
    """512^3 uint8 (128 MiB) of zeros from a ~130 kB gzip file: a decompression bomb."""
    src = _nii(tmp_path)
    header = bytearray(src.read_bytes()[:352])
    struct.pack_into("<hhhh", header, 40, 3, 512, 512, 512)
    struct.pack_into("<hh", header, 70, 2, 8)
    member = gzip.compress(bytes(1 << 20), compresslevel=9)
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(gzip.compress(bytes(header)) + member * 128)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="decompression bomb"):
        load_nifti(bomb)
    assert time.perf_counter() - t0 < 2.0


def test_gzip_bomb_small_declared_reads_only_declared(tmp_path: Path) -> None:
    """A gzip stream far longer than the declared image: only the declared bytes are read."""
    src = _nii(tmp_path)
    raw = src.read_bytes()
    bomb = tmp_path / "long.nii.gz"
    bomb.write_bytes(gzip.compress(raw) + gzip.compress(bytes(1 << 20), 9) * 64)
    t0 = time.perf_counter()
    assert load_nifti(bomb).shape == (6, 5, 4)
    assert time.perf_counter() - t0 < 1.0


def test_limits_are_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BRAINTWIN_MAX_VOLUME_BYTES", "100")
    with pytest.raises(InputError, match="more than the limit of 100 B"):
        load_nifti(_nii(tmp_path))  # 240 bytes of int16
    monkeypatch.setenv("BRAINTWIN_MAX_VOLUME_BYTES", "lots")
    with pytest.raises(BraintwinError, match="not a positive number"):
        current_limits()
    monkeypatch.delenv("BRAINTWIN_MAX_VOLUME_BYTES")
    assert current_limits().volume_bytes == 2 << 30
    check_declared("x", 1 << 30)  # 1 GiB is fine by default


def test_scaled_data_float32_and_finite_check(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.full((6, 5, 4), 30000, np.int16), AFFINE)
    img.header.set_slope_inter(1e38, 0.0)  # 30000 * 1e38 overflows float32
    path = tmp_path / "over.nii"
    nib.save(img, str(path))
    with pytest.raises(InputError, match="NaN/Inf voxel\\(s\\) after intensity scaling"):
        load_nifti(path)
    img.header.set_slope_inter(0.5, 10.0)
    nib.save(img, str(path))
    vol = load_nifti(path)
    assert vol.data.dtype == np.float32 and float(vol.data[0, 0, 0]) == 15010.0


def test_big_endian_file(tmp_path: Path) -> None:
    data = np.arange(120, dtype=">i2").reshape(6, 5, 4)
    img = nib.Nifti1Image(data, AFFINE)
    hdr = img.header.as_byteswapped(">")
    big = nib.Nifti1Image(data, AFFINE, hdr)
    path = tmp_path / "be.nii"
    nib.save(big, str(path))
    assert path.read_bytes()[:4] == struct.pack(">i", 348)
    np.testing.assert_array_equal(load_nifti(path).data, data.astype(np.int16))


# -- DICOM -----------------------------------------------------------------------------------
def _series(tmp_path: Path, n: int = 5) -> list[Path]:
    rng = np.random.default_rng(7)
    vol = Volume(rng.integers(0, 900, (24, 20, n)).astype(np.int16), AFFINE, Modality.T1)
    return write_dicom_series(vol, tmp_path / "s", header={"SeriesDescription": "T1"})


def _edit(path: Path, **values: object) -> None:
    ds = pydicom.dcmread(path)
    for key, value in values.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=False)


@pytest.mark.parametrize("tag", ["Rows", "Columns", "BitsAllocated"])
def test_dicom_without_matrix_tags(tmp_path: Path, tag: str) -> None:
    """Was AttributeError: 'FileDataset' object has no attribute 'Columns'."""
    files = _series(tmp_path)
    _edit(files[2], **{tag: None})
    with pytest.raises(DicomSeriesError, match=f"slice 3 has no {tag}") as err:
        load_dicom_series(tmp_path / "s")
    _one_line(err)


def test_dicom_unknown_vr(tmp_path: Path) -> None:
    """Was NotImplementedError: Unknown Value Representation 'TL'."""
    files = _series(tmp_path)
    raw = bytearray(files[1].read_bytes())
    i = raw.find(b"\x08\x00\x60\x00CS")  # (0008,0060) Modality, explicit VR "CS"
    assert i > 0
    raw[i + 4 : i + 6] = b"TL"
    files[1].write_bytes(bytes(raw))
    with pytest.raises(DicomSeriesError, match=r"NotImplementedError|malformed|corrupt") as err:
        load_dicom_series(tmp_path / "s")
    _one_line(err)


@pytest.mark.parametrize(
    "uid",
    [b"9.9.9.9.9.9.9.9.9.9\x00", b"abcdefghijklmnopqrs\x00", b"1.2.840.10008.1.2.5\x00"],
)
def test_dicom_bad_transfer_syntax(tmp_path: Path, uid: bytes) -> None:
    """Was ValueError: UID is not a transfer syntax / 'str' has no attribute 'is_compressed'."""
    files = _series(tmp_path)
    raw = files[0].read_bytes()
    assert b"1.2.840.10008.1.2.1\x00" in raw
    files[0].write_bytes(raw.replace(b"1.2.840.10008.1.2.1\x00", uid, 1))
    with pytest.raises(DicomSeriesError) as err:
        load_dicom_series(tmp_path / "s")
    _one_line(err)


def test_dicom_transfer_syntaxes_differ(tmp_path: Path) -> None:
    files = _series(tmp_path)
    ds = pydicom.dcmread(files[0])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(files[0], enforce_file_format=False)
    with pytest.raises(DicomSeriesError, match="2 different transfer syntaxes"):
        load_dicom_series(tmp_path / "s")


def test_dicom_corrupt_position_is_refused_quickly(tmp_path: Path) -> None:
    """A slice 1e9 mm away once made the missing-slice report enumerate 1e9 positions."""
    files = _series(tmp_path)
    _edit(files[-1], ImagePositionPatient=["0", "0", "99999"])
    t0 = time.perf_counter()
    with pytest.raises(DicomSeriesError, match=r"\d+ slice\(s\) missing") as err:
        load_dicom_series(tmp_path / "s")
    assert time.perf_counter() - t0 < 5.0
    assert len(str(err.value)) < 400
    _edit(files[-1], ImagePositionPatient=["0", "0", "1e30"])
    with pytest.raises(DicomSeriesError, match="no valid ImagePositionPatient"):
        load_dicom_series(tmp_path / "s")


def test_dicom_duplicate_slice_file(tmp_path: Path) -> None:
    files = _series(tmp_path)
    shutil.copy(files[2], files[0].parent / "copy.dcm")
    with pytest.raises(DicomSeriesError, match="more than once"):
        load_dicom_series(tmp_path / "s")


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"PixelSpacing": ["0", "0"]}, "implausible PixelSpacing"),
        ({"PixelSpacing": ["1e-9", "1e-9"]}, "implausible PixelSpacing"),
        ({"ImageOrientationPatient": ["2", "0", "0", "0", "2", "0"]}, "orthonormal"),
        ({"RescaleSlope": "1e308"}, "non-finite"),
        ({"BitsAllocated": 12}, "unsupported pixel format"),
        ({"SamplesPerPixel": 3}, "colour"),
    ],
)
def test_dicom_bad_values_all_slices(tmp_path: Path, values: dict[str, object], match: str) -> None:
    for f in _series(tmp_path):
        _edit(f, **values)
    with pytest.raises(DicomSeriesError, match=match) as err:
        load_dicom_series(tmp_path / "s")
    _one_line(err)


def test_dicom_lying_matrix_refused_before_decoding(tmp_path: Path) -> None:
    """Rows x Columns = 65535^2 on 5 slices (40 GiB as float32): refused by the size limit."""
    for f in _series(tmp_path):
        _edit(f, Rows=65535, Columns=65535)
    with pytest.raises(InputError, match="more than the limit"):
        load_dicom_series(tmp_path / "s")


def test_dicom_truncated_in_header(tmp_path: Path) -> None:
    files = _series(tmp_path)
    files[3].write_bytes(files[3].read_bytes()[:300])
    with pytest.raises(DicomSeriesError) as err:
        load_dicom_series(tmp_path / "s")
    _one_line(err)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("scaled", [False, True])
def test_resident_memory_bounded_by_the_result(tmp_path: Path, scaled: bool) -> None:
    """Peak growth while reading stays near the result's size (was 5x for scaled volumes)."""
    from braintwin.fuzz.runner import _reset_peak, _status_kib

    shape = (256, 256, 128)  # 16 MiB of int16 on disk; 32 MiB of float32 when scaled
    img = nib.Nifti1Image(np.ones(shape, np.int16), AFFINE)
    if scaled:
        img.header.set_slope_inter(2.0, 1.0)
    path = tmp_path / "big.nii.gz"
    nib.save(img, str(path))
    load_nifti(path)  # warm up lazily imported modules
    if not _reset_peak():
        pytest.skip("cannot reset the peak RSS here")
    base = _status_kib("VmRSS")
    vol = load_nifti(path)
    grown = (_status_kib("VmHWM") - base) * 1024
    assert grown <= 1.3 * vol.data.nbytes + (8 << 20), (grown >> 20, vol.data.nbytes >> 20)
