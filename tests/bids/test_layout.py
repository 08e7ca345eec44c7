"""Reading a BIDS subject on real data (the shipped progression pair and a BraTS case laid out
as BIDS), and the bad-input refusals: one line, exit 2, nothing stored, no subject label."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from tests.cli import run

from braintwin.errors import InputError
from braintwin.io.bids import is_bids_input, read_bids_subject
from braintwin.types import Modality

from .conftest import PAIR_DATES, SUBJECT, write_json, write_tsv

SUB = f"sub-{SUBJECT}"


def stored_nothing(home: Path) -> bool:
    """No patient in the store and no image object under its home."""
    from braintwin.store import Store

    images = [p for p in home.rglob("*.nii*")] if home.exists() else []
    return Store.open().list_patients() == [] and images == []


def test_dataset_sessions_dates_and_derivative_labels(progression_bids: Path) -> None:
    subject = read_bids_subject(progression_bids, seg_pipeline="manual")
    assert [s.name for s in subject.sessions] == ["ses-01", "ses-02"]
    for s, day in zip(subject.sessions, PAIR_DATES, strict=True):
        assert s.date == dt.date.fromisoformat(day) and s.date_source == "sessions.tsv"
        assert list(s.images) == [Modality.T1CE]
        assert s.segmentation is not None and s.segmentation.name.endswith(
            "_desc-tumor_dseg.nii.gz"
        )
    # The same subject given as its folder, or one session given as its folder.
    assert len(read_bids_subject(progression_bids / SUB).sessions) == 2
    [one] = read_bids_subject(progression_bids / SUB / "ses-02").sessions
    assert one.date == dt.date.fromisoformat(PAIR_DATES[1])
    assert is_bids_input(progression_bids / SUB / "ses-02" / "anat")
    assert not is_bids_input(progression_bids.parent / "nothing-here")


def test_subject_without_sessions_is_one_visit_dated_by_scans_tsv(brats_bids: Path) -> None:
    [s] = read_bids_subject(brats_bids).sessions
    assert s.name == "anat" and s.date == dt.date(2017, 3, 2) and s.date_source == "scans.tsv"
    assert set(s.images) == set(Modality.mri())
    assert s.images[Modality.T1CE].name.endswith("_ce-gadolinium_T1w.nii.gz")


def test_sidecar_date_and_slice_thickness_warning(progression_bids: Path) -> None:
    (progression_bids / SUB / f"{SUB}_sessions.tsv").unlink()
    anat = progression_bids / SUB / "ses-01" / "anat"
    # Illustrative sidecar (not from the collection): a dcm2niix-style AcquisitionDateTime and
    # the ~5 mm slice thickness that DATA.md says the 1 mm headers of this collection hide.
    write_json(
        anat / f"{SUB}_ses-01_ce-gadolinium_T1w.json",
        {"AcquisitionDateTime": "1991-07-04T10:11:12", "SliceThickness": 5.0},
    )
    first = read_bids_subject(progression_bids, session="01").sessions[0]
    assert first.date == dt.date(1991, 7, 4) and first.date_source == "sidecar"
    assert any("5 mm slices" in w and "--spacing" in w for w in first.warnings)
    told = read_bids_subject(progression_bids, session="ses-01", spacing=(1.0, 1.0, 5.0))
    assert told.sessions[0].warnings == []
    assert read_bids_subject(progression_bids, session="02").sessions[0].date is None


def _two_runs(root: Path) -> None:
    anat = root / SUB / "ses-01" / "anat"
    src = anat / f"{SUB}_ses-01_ce-gadolinium_T1w.nii.gz"
    for r in (1, 2):
        shutil.copyfile(src, anat / f"{SUB}_ses-01_ce-gadolinium_run-{r}_T1w.nii.gz")
    src.unlink()


def test_two_runs_are_refused_then_picked_by_run_or_by_name(progression_bids: Path) -> None:
    _two_runs(progression_bids)
    with pytest.raises(InputError) as info:
        read_bids_subject(progression_bids)
    msg = str(info.value)
    assert "ses-01 has 2 t1ce images (ce-gadolinium_run-1_T1w, ce-gadolinium_run-2_T1w)" in msg
    assert "--run" in msg and SUBJECT not in msg
    picked = read_bids_subject(progression_bids, run=2).sessions[0]
    assert picked.images[Modality.T1CE].name.endswith("_run-2_T1w.nii.gz")
    named = read_bids_subject(
        progression_bids, modalities={"ce-gadolinium_run-1_T1w": Modality.T1CE}
    ).sessions[0]
    assert named.images[Modality.T1CE].name.endswith("_run-1_T1w.nii.gz")
    with pytest.raises(InputError, match="match no BIDS image"):
        read_bids_subject(progression_bids, run=1, modalities={"nothing.nii": Modality.T1})


def test_several_subjects_need_subject_and_are_listed_by_label(progression_bids: Path) -> None:
    shutil.copytree(progression_bids / SUB, progression_bids / "sub-02")
    with pytest.raises(InputError, match=r"2 subjects .*--subject: 02, MRN4711"):
        read_bids_subject(progression_bids)
    assert len(read_bids_subject(progression_bids, subject="sub-02").sessions) == 2
    with pytest.raises(InputError, match="no subject '03'"):
        read_bids_subject(progression_bids, subject="03")


def test_malformed_future_and_pre_1900_dates_are_refused(progression_bids: Path) -> None:
    table = progression_bids / SUB / f"{SUB}_sessions.tsv"
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    for value, message in (
        ("1991-13-45", "acq_time '1991-13-45' is not a date"),
        (f"{future}T08:00:00", "is in the future"),
        ("1850-01-01T00:00:00", "before 1900"),
    ):
        write_tsv(table, [["session_id", "acq_time"], ["ses-01", value], ["ses-02", "n/a"]])
        with pytest.raises(InputError, match=message) as info:
            read_bids_subject(progression_bids)
        assert "sessions.tsv, ses-01" in str(info.value)


def test_missing_or_empty_anat_is_refused(progression_bids: Path) -> None:
    anat = progression_bids / SUB / "ses-02" / "anat"
    for f in anat.iterdir():
        f.unlink()
    (anat / "README.txt").write_text("nothing")
    with pytest.raises(InputError, match="ses-02 has no T1w, T2w or FLAIR image in anat/"):
        read_bids_subject(progression_bids)
    shutil.rmtree(anat)
    with pytest.raises(InputError, match="ses-02 has no anat folder"):
        read_bids_subject(progression_bids)


def test_paths_outside_root_are_refused(progression_bids: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(InputError, match="escapes the data folder"):
        read_bids_subject(progression_bids, root=elsewhere)
    # A link inside the dataset that leads outside it.
    anat = progression_bids / SUB / "ses-02" / "anat"
    outside = tmp_path / "outside.nii.gz"
    img = anat / f"{SUB}_ses-02_ce-gadolinium_T1w.nii.gz"
    img.rename(outside)
    os.symlink(outside, img)
    with pytest.raises(InputError, match="escapes the data folder"):
        read_bids_subject(progression_bids, root=progression_bids)
    assert len(read_bids_subject(progression_bids).sessions) == 2  # without --root: read


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        (_two_runs, [], "ses-01 has 2 t1ce images"),
        (lambda r: shutil.rmtree(r / SUB / "ses-02" / "anat"), [], "ses-02 has no anat folder"),
        (lambda r: (r / SUB / f"{SUB}_sessions.tsv").unlink(), [], "no date for ses-01, ses-02"),
        (lambda r: None, ["--date", "2001-01-01"], "--date gives one date for 2 sessions"),
        (lambda r: None, ["--root", "/nonexistent-root"], "escapes the data folder"),
        (lambda r: None, ["--seg-from", "nothing"], "ses-01: no *_dseg image(s)"),
        (lambda r: None, ["--seg-from", "../manual"], "is not a pipeline folder name"),
    ],
)
def test_cli_refuses_bad_bids_in_one_line_and_stores_nothing(
    home: Path,
    progression_bids: Path,
    capsys: pytest.CaptureFixture[str],
    change: object,
    args: list[str],
    message: str,
) -> None:
    change(progression_bids)  # type: ignore[operator]
    code, out, err = run(
        ["ingest", str(progression_bids), "--patient", "P-1", "--segment", "none", *args], capsys
    )
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert SUBJECT not in err
    assert stored_nothing(home)


def test_bids_options_are_refused_on_other_input(
    home: Path, shipped_progression: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(
        ["ingest", str(shipped_progression / "10" / "Pre_Scan_T1.nii.gz"), "-p", "X",
         "--subject", "01", "--run", "2"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "--subject, --run only apply to a BIDS folder" in err
