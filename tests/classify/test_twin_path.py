"""The tumour type as ``ingest`` makes it: real visits through prepare_visit -> classify_visit.

Slow (preprocessing and segmentation of whole real volumes); the shipped demo case is in the
repository, the raw DICOM study comes from the shared data and skips cleanly without it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from braintwin.classify import classify_visit
from braintwin.twin.ingest import IngestOptions, prepare_visit

DEMO = Path(__file__).resolve().parents[2] / "src" / "braintwin" / "data" / "demo"


def _prepare(source: Path) -> object:
    return prepare_visit(
        source,
        date=dt.date(2020, 1, 1),
        date_offset_days=0,
        options=IngestOptions(update_model=False),
    ).visit


@pytest.mark.slow
def test_healthy_raw_t1_only_study_is_classified_not_blank(shared_data: Path) -> None:
    """A real raw T1-only scanner study of a healthy child (no tumour): it used to fail with
    "image is blank" (the 0 background of the z-scored volume was taken for head). It must be
    classified from T1 with the "no T1ce" flag, and any label that contradicts the
    segmentation must be flagged."""
    study = shared_data / "dicom" / "siemens_skyra_mprage"
    if not study.is_dir():
        pytest.skip("siemens_skyra_mprage study not available")
    visit = _prepare(study)
    pred = classify_visit(visit, explain=False)  # type: ignore[arg-type]
    assert pred.modality == "t1"
    assert any("no T1ce" in f for f in pred.flags)
    assert pred.tumour_ml is not None
    if pred.label == "notumor" and pred.tumour_ml >= 1.0:
        assert pred.disagreement
    if pred.label != "notumor" and pred.tumour_ml == 0.0:
        assert pred.disagreement


@pytest.mark.slow
def test_shipped_demo_glioma_through_the_twin_path() -> None:
    """The shipped demo case (a real BraTS glioma) the way `ingest` sees it; the expert label
    shipped beside it is not used. Its ~100 mL segmented tumour must never be reported as
    "notumor" without a flagged disagreement. Known failure (see data/classify/README.md):
    the 2D classifier does not call it glioma (1 of the 14 shared BraTS cases through the twin
    path), so that part is an expected failure, not a pass."""
    cases = sorted(p for p in DEMO.iterdir() if p.is_dir())
    if not cases:
        pytest.skip("demo case not shipped")
    visit = _prepare(cases[0])
    visit.extras.pop("reference_seg", None)  # classification must not depend on it
    pred = classify_visit(visit, explain=False)  # type: ignore[arg-type]
    assert pred.modality == "t1ce"
    assert pred.tumour_ml is not None and pred.tumour_ml > 10.0
    if pred.label == "notumor":
        assert pred.disagreement and pred.flags[0].startswith("disagreement")
    else:
        assert not pred.disagreement
    if pred.label != "glioma":
        pytest.xfail(f"demo glioma classified as {pred.label} (known domain gap of the 2D model)")
