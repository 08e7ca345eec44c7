"""Known answers for the viewer's data shaping: quantised renditions and page data."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

from braintwin.web.display import OUTSIDE, display_rendition, display_window, quantise
from braintwin.web.pagedata import pfs_curve, posterior_entry, treatment_entry


def test_labels_stay_exact_uint8() -> None:
    seg = np.zeros((4, 4, 4), np.float32)
    seg[1, 1, 1], seg[2, 2, 2] = 4, 2
    q, slope = quantise(seg)
    assert q.dtype == np.uint8 and slope == 1.0
    np.testing.assert_array_equal(q, seg)
    assert display_window(q, slope) == (0.0, 4.0)


def test_floats_quantise_within_half_a_step() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(100, 30, (20, 20, 20)).clip(0)
    q, slope = quantise(x)
    assert q.dtype == np.int16 and np.isclose(slope, x.max() / 32767)
    assert np.abs(q * slope - x).max() <= slope / 2 + 1e-12


def test_zscored_background_is_marked_outside() -> None:
    x = np.zeros((10, 10, 10))
    x[2:8, 2:8, 2:8] = np.linspace(-2.5, 4.0, 216).reshape(6, 6, 6)
    q, slope = quantise(x)
    assert (q[0] == OUTSIDE).all() and (q[2:8, 2:8, 2:8] != OUTSIDE).all()
    lo, hi = display_window(q, slope)
    assert -2.6 < lo < -2.3 and 3.8 < hi < 4.01  # from the brain only, in real units


def test_rendition_file(tmp_path: Path) -> None:
    x = np.arange(1000, dtype=np.float32).reshape(10, 10, 10) / 7
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = [-5, 4, 3]
    src = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(x, affine), str(src))
    out = display_rendition(src, "ab" * 32, tmp_path / "cache")
    assert out == display_rendition(src, "ab" * 32, tmp_path / "cache")  # built once
    img = nib.Nifti1Image.from_bytes(gzip.decompress(out.read_bytes()))
    np.testing.assert_allclose(img.affine, affine)
    np.testing.assert_allclose(img.get_fdata(), x, atol=x.max() / 32767)


def test_pfs_curve_steps_and_censoring() -> None:
    c = pfs_curve([10.0, None, 30.0, None], horizon=100)
    assert c["days"] == [0.0, 10.0, 30.0, 100.0]
    assert c["p"] == [1.0, 0.75, 0.5, 0.5]


def test_posterior_histograms_count_every_sample() -> None:
    rng = np.random.default_rng(0)
    s = np.column_stack([rng.lognormal(-2, 0.3, 500), rng.lognormal(-4, 0.2, 500)])
    e = posterior_entry({"names": ["D_w", "rho"], "samples": s.tolist(), "source": "mcmc"})
    assert e["n_samples"] == 500
    for h in e["histograms"].values():
        assert sum(h["counts"]) == 500 and len(h["edges"]) == len(h["counts"]) + 1


def test_treatment_timeline_dates() -> None:
    plan = {
        "name": "rt",
        "start": "2020-01-06",
        "radiotherapy": {"fractions": [{"day": 0, "dose_gy": 2}, {"day": 1, "dose_gy": 2}]},
        "chemotherapy": [{"start_day": 0, "end_day": 42, "kill_rate_per_day": 0.01}],
    }
    t = treatment_entry(plan)
    assert t is not None
    assert [f["date"] for f in t["fractions"]] == ["2020-01-06", "2020-01-07"]
    assert t["chemo"][0]["end"] == "2020-02-17" and "4 Gy in 2 fractions" in t["summary"]
    assert treatment_entry(None) is None
