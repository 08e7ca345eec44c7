"""End-to-end: the CLI ingests real cases into a fresh store; bad input changes nothing."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests.cli import run

from braintwin.types import Volume


def tree_state(home: Path) -> dict[str, str]:
    """Every file under ``home`` with its content hash (the store's complete state)."""
    if not home.exists():
        return {}
    state = {}
    for p in sorted(home.rglob("*")):
        if not p.is_file() or p.name.endswith(("-wal", "-shm")):
            continue
        if p.suffix == ".db":  # compare the database's content, not its page layout
            with sqlite3.connect(p) as con:
                content = "\n".join(con.iterdump()).encode()
        else:
            content = p.read_bytes()
        state[str(p.relative_to(home))] = hashlib.sha256(content).hexdigest()
    return state


def stored_objects(home: Path) -> list[str]:
    """Image files in the store's content-addressed object folder (lock files aside)."""
    return [k for k in tree_state(home) if k.startswith("objects/")]


@pytest.fixture
def case(cropped_case: Callable[..., Path]) -> Path:
    return cropped_case(40, "Brats18_case_1")


def ingest_args(path: Path, *extra: str) -> list[str]:
    return [
        "ingest",
        str(path),
        "--patient",
        "MRN-0042",
        "--date",
        "2021-05-04",
        "--no-n4",
        "--segment",
        "none",
        *extra,
    ]


def test_ingest_show_report_roundtrip(
    home: Path, case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(ingest_args(case), capsys)
    assert code == 0, err
    assert "stored" in out and "MRN-0042" not in out
    pid = out.split()[1].rstrip(":")
    assert pid.startswith("BT-")

    code, out, _ = run(["patients"], capsys)
    assert code == 0 and pid in out and "visits=1" in out

    code, out, _ = run(["show", "MRN-0042"], capsys)
    assert code == 0 and pid in out and "t1ce" in out
    assert "2021-05-04" not in out  # dates are shifted

    report = tmp_path / "r.html"
    code, out, _ = run(["report", pid, "-o", str(report)], capsys)
    assert code == 0
    html = report.read_text()
    assert "data:image/png;base64," in html and pid in html
    assert "expert label" in html  # the BraTS seg is shown when nothing else exists

    # Re-ingesting the same images is idempotent: nothing changes on disk.
    before = tree_state(home)
    code, out, _ = run(ingest_args(case), capsys)
    assert code == 0 and "already stored" in out
    after = tree_state(home)
    assert {k: v for k, v in after.items() if k.startswith("objects")} == {
        k: v for k, v in before.items() if k.startswith("objects")
    }


def _write_nifti(path: Path, data: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def _bad_inputs(tmp: Path, case: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path to ingest, fragment the one-line error must contain)."""
    bad: dict[str, tuple[Path, str]] = {}
    bad["missing"] = (tmp / "nope_t1ce.nii.gz", "not found")
    empty = tmp / "empty_t1ce.nii.gz"
    empty.write_bytes(b"")
    bad["zero-byte"] = (empty, "empty")
    good = next(case.glob("*_t1ce.nii.gz")).read_bytes()
    trunc = tmp / "trunc_t1ce.nii.gz"
    trunc.write_bytes(good[: len(good) // 2])
    bad["truncated"] = (trunc, "")
    notnii = tmp / "text_t1ce.nii.gz"
    notnii.write_bytes(gzip.compress(b"hello, not an image"))
    bad["not-nifti"] = (notnii, "")
    nan = np.ones((8, 8, 8), np.float32)
    nan[2, 2, 2] = np.nan
    bad["nan"] = (_write_nifti(tmp / "nan_t1ce.nii.gz", nan), "NaN")
    bad["2d"] = (_write_nifti(tmp / "flat_t1ce.nii.gz", np.ones((8, 8), np.float32)), "")
    bad["4d"] = (_write_nifti(tmp / "four_t1ce.nii.gz", np.ones((8, 8, 8, 3), np.float32)), "")
    return bad


@pytest.mark.parametrize(
    "name", ["missing", "zero-byte", "truncated", "not-nifti", "nan", "2d", "4d"]
)
def test_bad_input_is_one_line_error_and_store_unchanged(
    name: str, home: Path, case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(ingest_args(case), capsys)[0] == 0
    before = tree_state(home)
    path, fragment = _bad_inputs(tmp_path, case)[name]
    code, _out, err = run(ingest_args(path), capsys)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fragment.lower() in lines[0].lower()
    assert tree_state(home) == before


def test_path_outside_root_is_refused(
    home: Path, case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    os.symlink(case, root / "link")
    code, _, err = run(ingest_args(root / "link", "--root", str(root)), capsys)
    assert code == 2 and "escape" in err.lower()
    code, _, err = run(ingest_args(root / ".." / case.name, "--root", str(root)), capsys)
    assert code == 2 and "escape" in err.lower()
    assert not stored_objects(home)


def test_mismatched_fields_of_view_are_refused(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    case = cropped_case(40, "fov")
    flair = next(case.glob("*_flair.nii.gz"))
    img = nib.load(str(flair))
    aff = img.affine.copy()
    aff[:3, 3] += 200.0  # FLAIR 20 cm away: no overlap with the other sequences
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), aff), str(flair))
    code, _, err = run(ingest_args(case), capsys)
    assert code == 2
    assert "field" in err.lower() or "overlap" in err.lower()
    assert not stored_objects(home)


IDENTIFIERS = [
    "Doe^Jane",
    "MRN-0042-XYZ",
    "19610203",
    "St Elsewhere General Hospital",
    "ACC-99887766",
    "Dr^Referrer",
    "20210504",
]


def test_no_dicom_identifier_reaches_store_log_or_report(
    home: Path,
    brats_case: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from braintwin.io import load_nifti, write_dicom_series

    vol = load_nifti(next(brats_case.glob("*_t1ce.nii.gz")))
    start = np.array(vol.shape) // 2 - (30, 30, 12)
    crop = vol.data[start[0] : start[0] + 60, start[1] : start[1] + 60, start[2] : start[2] + 24]
    affine = vol.affine.copy()
    affine[:3, 3] = vol.index_to_world(start)
    sub = Volume(np.ascontiguousarray(crop), affine, vol.modality)
    series = tmp_path / "dicom" / "t1_post_contrast"
    write_dicom_series(
        sub,
        series,
        header={
            "PatientName": "Doe^Jane",
            "PatientID": "MRN-0042-XYZ",
            "PatientBirthDate": "19610203",
            "InstitutionName": "St Elsewhere General Hospital",
            "AccessionNumber": "ACC-99887766",
            "ReferringPhysicianName": "Dr^Referrer",
            "StudyDate": "20210504",
            "SeriesDescription": "T1 POST GD",
        },
    )
    caplog.set_level(logging.DEBUG)
    code, out, err = run(
        ["ingest", str(series), "--patient", "MRN-0042-XYZ", "--no-n4", "--segment", "none"],
        capsys,
    )
    assert code == 0, err
    pid = out.split()[1].rstrip(":")
    report = home / "r.html"
    assert run(["report", pid, "-o", str(report)], capsys)[0] == 0
    code, show_out, _ = run(["show", pid, "--json"], capsys)
    assert code == 0

    texts = [out, err, show_out, caplog.text]
    for p in home.rglob("*"):
        if p.is_file():
            raw = p.read_bytes()
            if p.suffix == ".gz":
                raw = gzip.decompress(raw)
            texts.append(raw.decode("latin-1"))
            texts.append(p.name)
    blob = "\n".join(texts)
    for ident in IDENTIFIERS:
        assert ident not in blob, f"identifier {ident!r} leaked"
        assert ident.replace("^", " ") not in blob


@pytest.mark.slow
def test_second_visit_is_registered_to_the_first(
    home: Path, brats_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A whole head (not a cube cropped inside the brain, which has no background to tell a
    # skull-stripped image by and is brain-extracted again): as a real follow-up looks.
    case = tmp_path / "visit1"
    shutil.copytree(brats_case, case)
    assert run(ingest_args(case), capsys)[0] == 0
    moved = tmp_path / "visit2"
    shutil.copytree(case, moved)
    for f in moved.glob("*.nii.gz"):
        img = nib.load(str(f))
        aff = img.affine.copy()
        aff[:3, 3] += (3.0, -2.0, 1.0)  # the patient lay 3 mm elsewhere in the scanner
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), aff), str(f))
    code, _out, err = run(
        [
            "ingest",
            str(moved),
            "--patient",
            "MRN-0042",
            "--date",
            "2021-08-04",
            "--no-n4",
            "--segment",
            "none",
        ],
        capsys,
    )
    assert code == 0, err
    from braintwin.twin import Twin

    visits = Twin.open("MRN-0042").visits()
    assert len(visits) == 2
    assert (visits[1].date - visits[0].date).days == 92  # interval kept exactly
    a, b = visits[0].reference, visits[1].reference
    assert a.same_grid(b)
    m = visits[0].brain_mask.data.astype(bool)
    corr = np.corrcoef(a.data[m], b.data[m])[0, 1]
    assert corr > 0.95
