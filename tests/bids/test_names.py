"""BIDS names: entities, the contrast rule for T1w, sidecar inheritance (known answers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from braintwin.errors import InputError
from braintwin.io.bids_names import bids_modality, parse_bids_name, sidecar_for
from braintwin.types import Modality


def test_parse_entities_suffix_and_short_name_without_subject() -> None:
    name = parse_bids_name("sub-MRN4711_ses-02_ce-gadolinium_run-1_T1w.nii.gz")
    assert name is not None
    assert name.get("sub") == "MRN4711" and name.get("ce") == "gadolinium"
    assert name.suffix == "T1w" and name.extension == ".nii.gz"
    assert name.short() == "ce-gadolinium_run-1_T1w"  # what messages show: no sub-, no ses-
    for bad in ("Brats18_2013_3_1_t1.nii.gz", "sub-01_T1w.mgz", "sub-01__T1w.nii", "T1w.txt"):
        assert parse_bids_name(bad) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sub-1_T1w.nii.gz", Modality.T1),
        ("sub-1_ce-gadolinium_T1w.nii.gz", Modality.T1CE),
        ("sub-1_ce-Gd_T1w.nii", Modality.T1CE),
        ("sub-1_ce-none_T1w.nii", Modality.T1),
        ("sub-1_acq-gd_T1w.nii.gz", Modality.T1CE),
        ("sub-1_acq-postcontrast_T1w.nii.gz", Modality.T1CE),
        ("sub-1_acq-gadoMPRAGE_T1w.nii.gz", Modality.T1CE),
        ("sub-1_acq-ce_T1w.nii.gz", Modality.T1CE),
        ("sub-1_acq-precontrast_T1w.nii.gz", Modality.T1),
        ("sub-1_acq-noncontrast_T1w.nii.gz", Modality.T1),
        ("sub-1_acq-space_T1w.nii.gz", Modality.T1),  # "ce" inside a word is not contrast
        ("sub-1_acq-mprage_T1w.nii.gz", Modality.T1),
        ("sub-1_T2w.nii.gz", Modality.T2),
        ("sub-1_acq-gd_T2w.nii.gz", Modality.T2),  # the contrast rule concerns T1w only
        ("sub-1_FLAIR.nii.gz", Modality.FLAIR),
        ("sub-1_T2starw.nii.gz", None),
        ("sub-1_PDw.nii.gz", None),
        ("sub-1_T1map.nii.gz", None),
    ],
)
def test_contrast_rule(name: str, expected: Modality | None) -> None:
    parsed = parse_bids_name(name)
    assert parsed is not None
    assert bids_modality(parsed) is expected


def test_sidecar_contrast_agent_makes_a_t1w_post_contrast() -> None:
    parsed = parse_bids_name("sub-1_T1w.nii.gz")
    assert parsed is not None
    assert bids_modality(parsed, {"ContrastBolusIngredient": "GADOLINIUM"}) is Modality.T1CE
    assert bids_modality(parsed, {"ContrastBolusIngredient": "n/a"}) is Modality.T1


def test_sidecar_inheritance_deeper_and_more_specific_files_win(tmp_path: Path) -> None:
    anat = tmp_path / "sub-1" / "anat"
    anat.mkdir(parents=True)
    image = anat / "sub-1_acq-fast_T1w.nii.gz"
    image.write_bytes(b"")
    (tmp_path / "T1w.json").write_text(json.dumps({"A": "root", "B": "root", "C": "root"}))
    (tmp_path / "acq-fast_T1w.json").write_text(json.dumps({"B": "root-acq"}))
    (tmp_path / "acq-slow_T1w.json").write_text(json.dumps({"A": "wrong acq"}))
    (tmp_path / "T2w.json").write_text(json.dumps({"A": "wrong suffix"}))
    (anat / "sub-1_acq-fast_T1w.json").write_text(json.dumps({"C": "file"}))
    meta = sidecar_for(image, [tmp_path, tmp_path / "sub-1", anat])
    assert meta == {"A": "root", "B": "root-acq", "C": "file"}
    (anat / "sub-1_acq-fast_T1w.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable BIDS sidecar"):
        sidecar_for(image, [tmp_path, anat])


def test_export_target_must_be_new_or_an_earlier_export(tmp_path: Path) -> None:
    from typing import Any, cast

    from braintwin.twin.bids_export import export_bids, participant_label

    assert participant_label("BT-ABCDE12345") == "BTABCDE12345"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    nobody = cast(Any, None)  # the target is checked before the twin is read
    with pytest.raises(InputError, match=r"busy is not empty.*--force"):
        export_bids(nobody, busy)
    with pytest.raises(InputError, match="not a braintwin BIDS export"):
        export_bids(nobody, busy, force=True)
    assert (busy / "notes.txt").read_text() == "mine"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        export_bids(nobody, afile)
