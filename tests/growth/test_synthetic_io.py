"""The on-disk layout of SYNTHETIC patients (``simulate``) and its plausibility flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from braintwin.growth import Domain, GrowthParameters, synthesize_patient
from braintwin.growth.synthetic_io import write_synthetic_patient
from braintwin.io import read_visit_images
from braintwin.types import Modality, Volume


def _ball(n: int = 24, radius_vox: float = 11.0) -> tuple[Domain, Volume]:
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    idx = np.indices((n, n, n)) - n // 2
    r = np.sqrt((idx**2).sum(axis=0))
    mask = Volume((r <= radius_vox).astype(np.uint8), aff, Modality.MASK)
    t1 = Volume(np.where(r <= radius_vox, 100.0 - r, 0.0).astype(np.float32), aff, Modality.T1)
    return Domain.homogeneous(mask), t1


def test_written_patient_is_a_readable_brats_case(tmp_path: Path) -> None:
    dom, t1 = _ball()
    pat = synthesize_patient(
        dom,
        np.random.default_rng(0),
        visit_days=(0.0, 30.0),
        plan_kind="none",
        params=GrowthParameters(D_w=0.05, rho=0.05),
        seed_mm=(24.0, 24.0, 24.0),
        detect_ml=1.0,
    )
    root = write_synthetic_patient(pat, tmp_path, t1)
    manifest = json.loads((root / "synthetic.json").read_text())
    assert manifest["synthetic"] is True and "SYNTHETIC" in manifest["label"]
    visit = read_visit_images(root / f"{pat.case_id}_v1")
    assert visit.segmentation is not None
    assert {Modality.T1, Modality.T1CE, Modality.FLAIR} <= set(visit.volumes)
    core = np.isin(visit.segmentation.data, (1, 4))
    t1ce = visit.volumes[Modality.T1CE].data
    assert core.any() and t1ce[core].mean() > t1.data[core].mean()  # the core enhances


def test_brain_sized_tumours_are_flagged() -> None:
    dom, _ = _ball()
    pat = synthesize_patient(
        dom,
        np.random.default_rng(0),
        visit_days=(0.0, 400.0),
        plan_kind="none",
        params=GrowthParameters(D_w=1.0, rho=0.1),
        seed_mm=(24.0, 24.0, 24.0),
        detect_ml=1.0,
    )
    assert pat.flags and "implausible" in pat.flags[0]
    assert pat.manifest()["flags"] == pat.flags
