"""The reader fuzzer: a bounded, deterministic pass (no escape, hang or over-allocation) and
property tests with Hypothesis over NIfTI and DICOM header fields."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from braintwin.fuzz import OUTCOMES, classify_read, make_case, make_seeds, run_fuzz
from braintwin.fuzz.mutate_nifti import NIFTI_FIELDS

BOUNDED_N = 2000  # about 70 s on one core


def test_bounded_fuzz_pass() -> None:
    report = run_fuzz(BOUNDED_N, seed=0, timeout=10.0)
    summary = report.to_json()
    assert report.failures == 0, summary["findings"]
    assert sum(report.outcomes.values()) == BOUNDED_N
    # not vacuous: every reader ran, and mutants both pass and fail cleanly
    assert set(report.by_reader) == {"nifti", "dicom", "image", "visit"}
    assert report.outcomes["ok"] > 0.05 * BOUNDED_N
    assert report.outcomes["error"] > 0.5 * BOUNDED_N
    assert set(summary["outcomes"]) == set(OUTCOMES)


def test_cases_are_reproducible(tmp_path: Path) -> None:
    seeds = make_seeds(tmp_path / "seeds")
    for i in range(12):
        a = make_case(random.Random(f"7:{i}"), seeds, _fresh(tmp_path / f"a{i}"))
        b = make_case(random.Random(f"7:{i}"), seeds, _fresh(tmp_path / f"b{i}"))
        assert (a.reader, a.label) == (b.reader, b.label)
        assert _content(a.path) == _content(b.path)


def test_every_seed_reads(tmp_path: Path) -> None:
    """Mutants of unreadable seeds would test nothing: every seed itself reads cleanly."""
    seeds = make_seeds(tmp_path / "seeds")
    for path in (seeds.nifti, seeds.nifti_scaled, seeds.nifti2):
        assert classify_read("nifti", path) == ("ok", ""), path.name
    assert classify_read("dicom", seeds.dicom) == ("ok", "")
    for name, path in seeds.images.items():
        assert classify_read("image", path) == ("ok", ""), name


def _fresh(folder: Path) -> Path:
    folder.mkdir()
    return folder


def _content(path: Path) -> list[bytes]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [p.read_bytes() for p in files]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_seeds(tmp_path_factory.mktemp("seeds"))


_FIELD = st.sampled_from(sorted(k for k in NIFTI_FIELDS if k != "sizeof_hdr"))
_NUMBER = st.one_of(
    st.integers(-(2**15), 2**15 - 1),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=st.lists(st.tuples(_FIELD, _NUMBER), min_size=1, max_size=4), gz=st.booleans())
def test_nifti_header_property(seeds, tmp_path: Path, edits, gz: bool) -> None:  # type: ignore[no-untyped-def]
    """Any values in any header fields: the reader returns a volume or a clean error."""
    raw = bytearray(seeds.nifti.read_bytes())
    for name, value in edits:
        offset, fmt = NIFTI_FIELDS[name]
        if fmt in "hb":
            value = int(value) if value == value and abs(value) < 2**15 else 0
            value = max(-128, min(127, value)) if fmt == "b" else value
        struct.pack_into("<" + fmt, raw, offset, value)
    path = tmp_path / ("h.nii.gz" if gz else "h.nii")
    path.write_bytes(gzip.compress(bytes(raw), 1) if gz else bytes(raw))
    outcome, detail = classify_read("nifti", path)
    assert outcome in ("ok", "error"), detail


_DICOM_EDITS = st.sampled_from(
    [
        ("Rows", 0), ("Rows", 65535), ("Columns", 1), ("BitsAllocated", 64),
        ("PixelRepresentation", 2), ("SamplesPerPixel", 0), ("PixelSpacing", ["0.0", "1"]),
        ("PixelSpacing", ["nan", "1"]), ("ImageOrientationPatient", ["0"] * 6),
        ("ImagePositionPatient", ["0", "0", "1e12"]), ("ImagePositionPatient", ["0", "0", "0"]),
        ("RescaleSlope", "-inf"), ("RescaleIntercept", "1e309"), ("NumberOfFrames", "0"),
        ("NumberOfFrames", "999999999"), ("SliceThickness", "-1"), ("SeriesInstanceUID", "9.9"),
        ("SpacingBetweenSlices", "0"),
    ]
)  # fmt: skip


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=st.lists(st.tuples(st.integers(0, 5), _DICOM_EDITS), min_size=1, max_size=3))
def test_dicom_tag_property(seeds, tmp_path: Path, edits) -> None:  # type: ignore[no-untyped-def]
    import shutil

    import pydicom

    folder = tmp_path / "s"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(seeds.dicom, folder)
    files = sorted(folder.iterdir())
    for index, (keyword, value) in edits:
        ds = pydicom.dcmread(files[index])
        setattr(ds, keyword, value)
        ds.save_as(files[index], enforce_file_format=False)
    outcome, detail = classify_read("dicom", folder)
    assert outcome in ("ok", "error"), detail
