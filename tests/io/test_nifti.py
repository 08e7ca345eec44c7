"""NIfTI read/write: round trips, scrubbed headers, atomic writes and every bad input."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin.deid import nifti_text_fields
from braintwin.errors import InputError
from braintwin.io import load_nifti, save_nifti
from braintwin.types import Modality, Volume

AFFINE = np.array([[-1.0, 0, 0, 90], [0, 1.2, 0, -100], [0, 0, 2.5, -60], [0, 0, 0, 1]])


def _write(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(
    ("dtype", "stored"),
    [(np.int16, np.int16), (np.float64, np.float32), (np.bool_, np.uint8), (np.int64, np.int32)],
)
def test_round_trip(tmp_path: Path, rng: np.random.Generator, suffix: str, dtype, stored) -> None:
    data = (rng.random((5, 6, 7)) * 100).astype(dtype)
    vol = Volume(data, AFFINE, Modality.T2)
    path = save_nifti(vol, tmp_path / f"out{suffix}")
    back = load_nifti(path, Modality.T2)
    assert back.data.dtype == stored
    np.testing.assert_allclose(back.data, data.astype(stored), rtol=1e-6)
    np.testing.assert_allclose(back.affine, AFFINE, atol=1e-5)
    assert back.modality is Modality.T2 and back.meta == {"source": "nifti"}
    assert back.orientation == "LAS"


def test_save_scrubs_text_fields(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), AFFINE)
    img.header["descrip"] = b"Doe^Jane MRN-0042"
    img.header["aux_file"] = b"jane.doe"
    img.header["intent_name"] = b"MRN0042"
    img.header["db_name"] = b"St Elsewhere"
    src = tmp_path / "identified.nii"
    nib.save(img, str(src))
    assert "Doe^Jane" in nifti_text_fields(nib.load(str(src)).header)["descrip"]
    out = save_nifti(load_nifti(src), tmp_path / "clean.nii.gz")
    assert all(v == "" for v in nifti_text_fields(nib.load(str(out)).header).values())
    raw = gzip.decompress(out.read_bytes())
    for ident in (b"Doe^Jane", b"jane.doe", b"MRN0042", b"Elsewhere"):
        assert ident not in raw
    hdr = nib.load(str(out)).header
    assert int(hdr["sform_code"]) == 1 and int(hdr["qform_code"]) == 1


def test_save_is_deterministic(tmp_path: Path, rng: np.random.Generator) -> None:
    """Same volume -> same bytes (no timestamp in the gzip stream): content addressing works."""
    vol = Volume(rng.random((6, 5, 4)).astype(np.float32), AFFINE)
    a = save_nifti(vol, tmp_path / "a.nii.gz").read_bytes()
    b = save_nifti(vol, tmp_path / "b.nii.gz").read_bytes()
    assert a == b


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "vol.nii.gz"
    vol = Volume(np.ones((3, 3, 3), np.float32), np.eye(4))
    save_nifti(vol, target)
    before = target.read_bytes()

    def broken_save(img, filename):  # a crash half-way through writing
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_nifti(vol.with_data(np.zeros((3, 3, 3), np.float32)), target)
    assert target.read_bytes() == before  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vol.nii.gz"]  # no temp left


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_nifti(tmp_path / "nope.nii.gz")


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.nii.gz"
    p.touch()
    with pytest.raises(InputError, match="0 bytes"):
        load_nifti(p)


def test_truncated_gz(tmp_path: Path, rng: np.random.Generator) -> None:
    p = _write(tmp_path / "full.nii.gz", rng.random((20, 20, 20)).astype(np.float32))
    raw = p.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_nifti(cut)


def test_truncated_uncompressed(tmp_path: Path, rng: np.random.Generator) -> None:
    p = _write(tmp_path / "full.nii", rng.random((20, 20, 20)).astype(np.float32))
    cut = tmp_path / "cut.nii"
    cut.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_nifti(cut)


@pytest.mark.parametrize("content", [b"hello, I am a text file\n" * 30, bytes(range(256)) * 4])
def test_not_nifti(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "fake.nii"
    p.write_bytes(content)
    with pytest.raises(InputError, match=r"not a valid NIfTI|corrupt"):
        load_nifti(p)
    g = tmp_path / "fake.nii.gz"
    g.write_bytes(content)
    with pytest.raises(InputError, match=r"not a valid NIfTI|corrupt"):
        load_nifti(g)


def test_wrong_suffix(tmp_path: Path) -> None:
    p = tmp_path / "image.mha"
    p.write_bytes(b"x")
    with pytest.raises(InputError, match=r"\.nii"):
        load_nifti(p)


def test_4d_with_several_volumes(tmp_path: Path) -> None:
    p = _write(tmp_path / "dwi.nii.gz", np.zeros((4, 4, 4, 3), np.int16))
    with pytest.raises(InputError, match="holding 3 volumes"):
        load_nifti(p)


def test_4d_with_one_volume_is_3d(tmp_path: Path) -> None:
    p = _write(tmp_path / "one.nii.gz", np.ones((4, 5, 6, 1), np.int16))
    assert load_nifti(p).shape == (4, 5, 6)


def test_2d(tmp_path: Path) -> None:
    p = _write(tmp_path / "slice.nii.gz", np.zeros((8, 8), np.int16))
    with pytest.raises(InputError, match="2D image"):
        load_nifti(p)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf(tmp_path: Path, bad: float) -> None:
    data = np.ones((4, 4, 4), np.float32)
    data[1, 2, 3] = bad
    data[0, 0, 0] = bad
    p = _write(tmp_path / "bad.nii.gz", data)
    with pytest.raises(InputError, match="2 NaN/Inf"):
        load_nifti(p)


def test_unreadable_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission denied as the OS reports it (simulated: the suite may run as root)."""
    p = _write(tmp_path / "locked.nii.gz", np.zeros((4, 4, 4), np.int16))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("braintwin.io.nifti.open", denied, raising=False)
    with pytest.raises(InputError, match="permission denied"):
        load_nifti(p)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_real(tmp_path: Path) -> None:
    p = _write(tmp_path / "locked.nii.gz", np.zeros((4, 4, 4), np.int16))
    p.chmod(0)
    try:
        with pytest.raises(InputError, match="permission denied"):
            load_nifti(p)
    finally:
        p.chmod(0o600)


def test_directory_given(tmp_path: Path) -> None:
    d = tmp_path / "folder.nii.gz"
    d.mkdir()
    with pytest.raises(InputError, match="folder"):
        load_nifti(d)


def test_no_sform_qform_is_flagged(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    p = tmp_path / "bare.nii"
    nib.save(img, str(p))
    vol = load_nifti(p)
    assert "orientation unknown" in vol.meta["warnings"][0]


def test_real_brats_volume(brats_case: Path) -> None:
    vol = load_nifti(next(brats_case.glob("*_t1ce.nii.gz")), Modality.T1CE)
    assert vol.shape == (240, 240, 155)
    assert vol.spacing == pytest.approx((1.0, 1.0, 1.0))
    assert vol.data.dtype == np.int16 and vol.data.max() > 0
