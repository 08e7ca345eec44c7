"""Treatment response on a real glioblastoma segmentation (issue 10, defect 3; real data).

Under Stupp the forecast used to erase 86-154 mL of T1ce-visible tumour in the first
radiotherapy week and never regrow, and untreated growth reached brain-sized volumes. With
population-median parameters the T1ce-visible (TC) tumour must now respond gradually, reach a
nadir months after radiotherapy and regrow; untreated growth must stay plausible.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from braintwin.calibrate.population import load_population
from braintwin.growth import GrowthParameters, grow_from_segmentation, standard_stupp
from braintwin.io import load_nifti
from braintwin.types import Modality, Volume


def _case_2mm(case: Path) -> tuple[Volume, Volume]:
    seg = load_nifti(next(case.glob("*_seg.nii.gz")))
    t1 = load_nifti(next(case.glob("*_t1.nii.gz")))
    aff = seg.affine.copy()
    aff[:3, :3] *= 2
    labels = np.asarray(seg.data)[::2, ::2, ::2].copy()
    brain = (np.asarray(t1.data)[::2, ::2, ::2] > 0) | (labels > 0)
    return Volume(labels, aff, Modality.SEG), Volume(brain.astype(np.uint8), aff, Modality.MASK)


def test_stupp_gives_gradual_response_and_regrowth(brats_case: Path) -> None:
    seg, brain = _case_2mm(brats_case)
    mean = np.exp(load_population()["prior"]["mean"])
    params = GrowthParameters(D_w=float(mean[0]), rho=float(mean[1]))
    start = dt.date(2020, 1, 6)
    end = start + dt.timedelta(days=365)
    run = grow_from_segmentation(seg, brain, params, standard_stupp(start), start, end)
    tc = run.trajectory.enhancing_expected_mm3 / 1000  # expected over the T1ce threshold
    wt = run.flair_ml
    week = {int((d - start).days // 7): i for i, d in enumerate(run.dates)}
    assert tc[0] > 10
    assert tc[week[1]] > 0.9 * tc[0] and tc[week[4]] > 0.8 * tc[0]  # no vanishing in RT
    assert wt[week[4]] > 0.8 * wt[0]
    nadir = int(np.argmin(tc))
    assert 0 < tc[nadir] < 0.9 * tc[0] and nadir > week[6]  # a response, after RT ends
    assert tc[-1] > 1.4 * tc[nadir]  # and regrowth (progression) within the year
    untreated = grow_from_segmentation(seg, brain, params, None, start, end)
    brain_ml = float(brain.data.sum()) * 8 / 1000
    assert untreated.enhancing_ml[-1] > tc[0]
    assert untreated.flair_ml[-1] < 0.3 * brain_ml and not untreated.trajectory.notes
