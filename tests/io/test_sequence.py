"""Sequence detection from file names and DICOM tags (conservative: None when unsure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from braintwin.io import detect_modality
from braintwin.types import Modality

T1, T1CE, T2, FLAIR, SEG = Modality.T1, Modality.T1CE, Modality.T2, Modality.FLAIR, Modality.SEG


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # BraTS 2018-2021 and 2023
        ("Brats18_TCIA01_201_1_t1.nii.gz", T1),
        ("Brats18_TCIA01_201_1_t1ce.nii.gz", T1CE),
        ("Brats18_2013_2_1_t2.nii.gz", T2),
        ("Brats18_2013_2_1_flair.nii.gz", FLAIR),
        ("Brats18_2013_2_1_seg.nii.gz", SEG),
        ("BraTS-GLI-00000-000-t1n.nii.gz", T1),
        ("BraTS-GLI-00000-000-t1c.nii.gz", T1CE),
        ("BraTS-GLI-00000-000-t2w.nii.gz", T2),
        ("BraTS-GLI-00000-000-t2f.nii.gz", FLAIR),
        # BIDS
        ("sub-01_ses-1_T1w.nii.gz", T1),
        ("sub-01_ses-1_ce-gadolinium_T1w.nii.gz", T1CE),
        ("sub-01_ses-1_T2w.nii", T2),
        ("sub-01_ses-1_FLAIR.nii.gz", FLAIR),
        ("sub-01_ses-1_dseg.nii.gz", SEG),
        # clinical series names
        ("T1", T1),
        ("T1C", T1CE),
        ("T1CE", T1CE),
        ("T1GD", T1CE),
        ("T1_POST", T1CE),
        ("T1 +C", T1CE),
        ("T1+C", T1CE),
        ("Sag T1 C+", T1CE),
        ("AX T1 POST GAD", T1CE),
        ("MPRAGE", T1),
        ("t1_mprage_sag_p2_iso", T1),
        ("T1_MPRAGE_POST", T1CE),
        ("T1 pre contrast", T1),
        ("T2", T2),
        ("AX T2 FRFSE", T2),
        ("FLAIR", FLAIR),
        ("T2-FLAIR", FLAIR),
        ("T2W_FLAIR", FLAIR),
        ("t2_tirm_tra_dark-fluid", FLAIR),
        ("Ax T1 FLAIR", T1),  # GE's T1-weighted FLAIR is a T1 sequence
        ("Ax T1 FLAIR POST", T1CE),
        ("sT1W_3D_TFE", T1),
        ("sT2W_TSE", T2),
        ("sT2W_FLAIR", FLAIR),
        ("T1_SE_KM", T1CE),
        ("t1_fl2d_tra", T1),
        ("T1_C", T1CE),
        # BraTS-style suffix wins over words in the case ID
        ("PD_007_loc_c_t1.nii.gz", T1),
        ("Post_op_case_t1.nii.gz", T1),
        ("case_c_flair.nii.gz", FLAIR),
        ("DWI_study_seg.nii.gz", SEG),
        (Path("/data/visit1/3_T1_POST"), T1CE),
        # not one of the four structural sequences, or no clue: ask the user
        ("ep2d_diff_tra", None),
        ("DWI", None),
        ("ADC", None),
        ("SWI", None),
        ("T2*", None),
        ("localizer", None),
        ("PD", None),
        ("scan001.nii.gz", None),
        ("T1 T2 combo", None),
        ("Brats18_TCIA01_201_1.nii.gz", None),
    ],
)
def test_names(name: str, expected: Modality | None) -> None:
    assert detect_modality(name) is expected


def _ds(**tags: object) -> Dataset:
    ds = Dataset()
    for k, v in tags.items():
        setattr(ds, k, v)
    return ds


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"SeriesDescription": "AX T1 POST"}, T1CE),
        ({"SeriesDescription": "AX T1", "ContrastBolusAgent": "Gadovist"}, T1CE),
        ({"SeriesDescription": "AX T1", "ContrastBolusAgent": "NONE"}, T1),
        ({"SeriesDescription": "Series 5", "ProtocolName": "t2_tse_tra"}, T2),
        ({"SeriesDescription": "", "SequenceName": "*tir2d1_16", "ProtocolName": "FLAIR"}, FLAIR),
        ({"SeriesDescription": "ep2d_diff_3scan"}, None),
        # no useful text: physics rules
        ({"ScanningSequence": "IR", "InversionTime": 2500, "EchoTime": 90, "RepetitionTime": 9000}, FLAIR),
        ({"ScanningSequence": "SE", "EchoTime": 12, "RepetitionTime": 550}, T1),
        ({"ScanningSequence": "SE", "EchoTime": 12, "RepetitionTime": 550, "ContrastBolusAgent": "Gd"}, T1CE),
        ({"ScanningSequence": ["GR", "IR"], "InversionTime": 900, "EchoTime": 2.5, "RepetitionTime": 2300}, T1),
        ({"ScanningSequence": "SE", "EchoTime": 100, "RepetitionTime": 4000}, T2),
        ({"ScanningSequence": "SE", "EchoTime": 30, "RepetitionTime": 2000}, None),  # PD-like
        ({}, None),
    ],
)  # fmt: skip
def test_tags(tags: dict[str, object], expected: Modality | None) -> None:
    assert detect_modality(_ds(**tags)) is expected


def test_enhanced_mr_timing_in_functional_groups() -> None:
    timing, echo, shared = Dataset(), Dataset(), Dataset()
    timing.RepetitionTime = 450
    echo.EffectiveEchoTime = 10
    shared.MRTimingAndRelatedParametersSequence = [timing]
    shared.MREchoSequence = [echo]
    ds = _ds(ScanningSequence="SE")
    ds.SharedFunctionalGroupsSequence = [shared]
    assert detect_modality(ds) is T1


def test_real_pydicom_mr_file() -> None:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    ds = dcmread(get_testdata_file("MR_small.dcm"))
    # pydicom's real MR slice has no description tags; spin echo TR 4000 ms / TE 240 ms is
    # T2-weighted by the physics rule.
    assert "SeriesDescription" not in ds
    assert detect_modality(ds) is T2


def test_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        detect_modality(42)
