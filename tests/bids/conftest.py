"""Real data laid out as BIDS in a temporary folder.

* ``progression_bids``: the real follow-up pair shipped in tests/data/progression (TCIA
  Brain-Tumor-Progression pair 10, provenance in tests/data/PROVENANCE.md) as
  ``sub-MRN4711/ses-0{1,2}/anat/*_ce-gadolinium_T1w.nii.gz`` with the collection's own dates in
  ``sub-MRN4711_sessions.tsv`` and the expert enhancing masks as
  ``derivatives/manual/…_desc-tumor_dseg.nii.gz``. The subject label is deliberately
  identifier-like ("MRN4711"): the tests check that it reaches no output.
* ``brats_bids``: a real BraTS case (cropped around its tumour) as a subject without sessions,
  ``sub-MRN4711/anat/*_{T1w,ce-gadolinium_T1w,T2w,FLAIR}.nii.gz``, dated by ``*_scans.tsv``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

SUBJECT = "MRN4711"
#: Scan dates of pair 10 in tests/data/progression/supplementary.csv (the collection's own).
PAIR_DATES = ("1991-07-04", "1991-10-02")


def write_json(path: Path, obj: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def write_tsv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(r) + "\n" for r in rows))


def make_progression_bids(root: Path, pair: Path) -> Path:
    write_json(root / "dataset_description.json", {"Name": "pair 10", "BIDSVersion": "1.9.0"})
    sub = root / f"sub-{SUBJECT}"
    for n, scan in enumerate(("Pre", "Post"), 1):
        ses = f"ses-{n:02d}"
        anat = sub / ses / "anat"
        anat.mkdir(parents=True)
        shutil.copyfile(
            pair / f"{scan}_Scan_T1.nii.gz", anat / f"sub-{SUBJECT}_{ses}_ce-gadolinium_T1w.nii.gz"
        )
        dseg = root / "derivatives" / "manual" / f"sub-{SUBJECT}" / ses / "anat"
        dseg.mkdir(parents=True)
        shutil.copyfile(
            pair / f"{scan}_Mask.nii.gz", dseg / f"sub-{SUBJECT}_{ses}_desc-tumor_dseg.nii.gz"
        )
    write_tsv(
        sub / f"sub-{SUBJECT}_sessions.tsv",
        [["session_id", "acq_time"]]
        + [[f"ses-{n:02d}", f"{d}T10:00:00"] for n, d in enumerate(PAIR_DATES, 1)],
    )
    return root


@pytest.fixture
def progression_bids(tmp_path: Path, shipped_progression: Path) -> Path:
    return make_progression_bids(tmp_path / "prog-bids", shipped_progression / "10")


BRATS_NAMES = {"t1": "T1w", "t1ce": "ce-gadolinium_T1w", "t2": "T2w", "flair": "FLAIR"}


@pytest.fixture
def brats_bids(tmp_path: Path, cropped_case: Callable[..., Path]) -> Path:
    case = cropped_case(40)
    root = tmp_path / "brats-bids"
    write_json(root / "dataset_description.json", {"Name": "one case", "BIDSVersion": "1.9.0"})
    anat = root / f"sub-{SUBJECT}" / "anat"
    anat.mkdir(parents=True)
    rows = [["filename", "acq_time"]]
    for seq, suffix in BRATS_NAMES.items():
        name = f"sub-{SUBJECT}_{suffix}.nii.gz"
        shutil.copyfile(next(case.glob(f"*_{seq}.nii.gz")), anat / name)
        rows.append([f"anat/{name}", "2017-03-02T09:30:00"])
    write_tsv(root / f"sub-{SUBJECT}" / f"sub-{SUBJECT}_scans.tsv", rows)
    return root
