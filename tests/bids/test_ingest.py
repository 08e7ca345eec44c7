"""``braintwin ingest`` of BIDS folders on real data: a subject without sessions (a BraTS case,
four sequences, dated by scans.tsv), and a two-session ingest whose second session fails after
the first was stored: the error says what stays stored, and re-running continues."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests.cli import run

from braintwin.twin import Twin
from braintwin.types import Modality

from .conftest import SUBJECT

pytestmark = pytest.mark.slow

FAST = ["--no-n4", "--no-classify", "--no-update", "--segment", "none"]


def test_subject_without_sessions_is_one_visit_with_four_sequences(
    home: Path, brats_bids: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["ingest", str(brats_bids), "-p", "MRN-9", *FAST], capsys)
    assert code == 0, err
    assert "session 1 of 1 -> visit" in out and "[t1, t1ce, t2, flair]" in out
    assert SUBJECT not in out + err and "MRN-9" not in out + err
    twin = Twin.open("MRN-9")
    [date] = twin.visit_dates()
    assert date == twin.shift(dt.date(2017, 3, 2))  # scans.tsv acq_time, shifted
    assert set(twin.visit().volumes) == set(Modality.mri())
    # The same command again changes nothing (same images, same options).
    code, out, err = run(["ingest", str(brats_bids), "-p", "MRN-9", *FAST], capsys)
    assert code == 0 and "already stored" in out


def test_a_failing_second_session_keeps_the_first_and_a_rerun_continues(
    home: Path, progression_bids: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = (
        progression_bids / f"sub-{SUBJECT}" / "ses-02" / "anat"
        / f"sub-{SUBJECT}_ses-02_ce-gadolinium_T1w.nii.gz"
    )  # fmt: skip
    good = image.read_bytes()
    img = nib.load(str(image))
    broken = np.asarray(img.dataobj).astype(np.float32)
    broken[0, 0, 0] = np.nan  # a corrupt voxel: refused when the session is read
    nib.save(nib.Nifti1Image(broken, img.affine), str(image))
    args = ["ingest", str(progression_bids), "-p", "MRN-10", "--spacing", "1,1,5", *FAST]

    code, out, err = run(args, capsys)
    twin = Twin.open("MRN-10")
    [first] = twin.visit_dates()
    errors = [line for line in err.splitlines() if not line.startswith("ingest: ")]  # progress
    assert code == 2 and len(errors) == 1, err
    assert "ses-02" in err and "t1ce.nii.gz contains 1 NaN" in err  # staged name: no label
    assert "session 2 of 2 (ses-02) failed" in err and "NaN" in err
    assert f"1 earlier session(s) stay stored as visits {first} (shifted)" in err
    assert "re-run the same command" in err and SUBJECT not in err

    image.write_bytes(good)
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert f"session 1 of 2 -> visit {first} already stored" in out
    assert "session 2 of 2 -> visit" in out and "stored [t1ce]" in out
    assert len(twin.visit_dates()) == 2
