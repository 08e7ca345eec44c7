"""In-silico patients (SYNTHETIC) and the forward run from a segmentation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from braintwin.errors import ModelError
from braintwin.growth import (
    Domain,
    GrowthParameters,
    grow_from_segmentation,
    simulate,
    standard_stupp,
    synthesize_patient,
    to_segmentation,
)
from braintwin.types import Modality, Volume


def _ball_brain(n: int = 40) -> Domain:
    idx = np.indices((n, n, n)) - n // 2
    mask = ((idx**2).sum(axis=0) <= (n // 2 - 2) ** 2).astype(np.uint8)
    return Domain.homogeneous(Volume(mask, np.diag([2.0, 2.0, 2.0, 1.0]), Modality.MASK))


def test_synthetic_patient_is_labelled_and_consistent(rng: np.random.Generator) -> None:
    dom = _ball_brain()
    p = GrowthParameters(D_w=0.4, rho=0.08, alpha=0.03)
    pat = synthesize_patient(dom, rng, params=p, visit_days=[0, 60, 120], detect_ml=2.0)
    m = pat.manifest()
    assert m["SYNTHETIC"] is True and "SYNTHETIC" in m["label"]
    assert m["true_parameters"]["D_w"] == 0.4 and len(m["visits"]) == 3
    assert dom.mask[pat.seed_voxel]
    v0, v1, v2 = pat.visits
    assert v0.enhancing_ml >= 2.0  # diagnosed when the detection size was reached
    for v in pat.visits:  # labels are the observation model applied to the truth
        np.testing.assert_array_equal(v.segmentation.data, to_segmentation(v.density).data)
    assert v1.date == v0.date + dt.timedelta(days=60)
    # Stupp starts on day 28: by day 60 the treated burden is below its untreated path.
    untreated = simulate(v0.density, dom, p, None, [0.0, 60.0])
    cells = float(v1.density.data.sum()) * dom.voxel_volume_mm3
    assert cells < 0.8 * untreated.cells_mm3[-1]
    assert v2.day == 120.0


def test_seed_outside_brain_is_refused(rng: np.random.Generator) -> None:
    dom = _ball_brain()
    with pytest.raises(ModelError, match="outside the brain"):
        synthesize_patient(dom, rng, seed_mm=(1.0, 1.0, 1.0))
    with pytest.raises(ModelError, match="plan"):
        synthesize_patient(dom, rng, plan_kind="proton")


def test_grow_from_segmentation_writes_plot(tmp_path: Path) -> None:
    dom = _ball_brain()
    seg = np.zeros(dom.shape, np.uint8)
    idx = np.indices(dom.shape) - 20
    r = np.sqrt((idx**2).sum(axis=0))
    seg[r <= 5] = 2
    seg[r <= 3] = 4
    segv = dom.volume(seg, Modality.SEG)
    start = dt.date(2024, 1, 8)
    run = grow_from_segmentation(
        segv,
        dom.mask_volume(),
        GrowthParameters(D_w=0.3, rho=0.05),
        standard_stupp(start + dt.timedelta(days=14)),
        start,
        start + dt.timedelta(days=120),
    )
    assert run.final.shape == dom.shape and set(run.masks) == {"enhancing", "flair"}
    assert len(run.dates) == len(run.flair_ml) == len(run.enhancing_ml)
    assert run.dates[-1] == start + dt.timedelta(days=120)
    # Starts from the segmentation: the T1ce-visible core is the labelled core; the FLAIR-visible
    # extent is what (D_w, rho) predict around it (a travelling-wave profile), so it is larger.
    assert run.enhancing_ml[0] == pytest.approx((seg == 4).sum() * 8 / 1000)
    assert run.flair_ml[0] > run.enhancing_ml[0]
    # Under Stupp the T1ce-visible tumour does not vanish in the first radiotherapy week.
    week = next(i for i, d in enumerate(run.dates) if (d - start).days >= 21)
    assert run.enhancing_ml[week] > 0.5 * run.enhancing_ml[0]
    png = run.save_plot(tmp_path / "curve.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert run.summary()["plan"] == "stupp-60Gy-30fx"
    with pytest.raises(ModelError, match="not after"):
        grow_from_segmentation(segv, dom.mask_volume(), GrowthParameters(), None, start, start)
