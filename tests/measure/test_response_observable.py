"""RANO-style response: ring-enhancing lesions, visits without T1ce, WT growth, baseline/nadir.

Known answers on synthetic label volumes (1 mm in-plane, 2 mm slices): a sphere-like tumour
with a necrotic core (label 1) inside an enhancing rim (label 4) inside edema (label 2).
"""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.measure import (
    VisitMeasurements,
    assess_response,
    compare_measurements,
    measure_segmentation,
    observable_regions,
)
from braintwin.types import Modality, Region, Volume

SHAPE = (90, 90, 40)
AFFINE = np.diag([1.0, 1.0, 2.0, 1.0])


def _tumour(core_mm: float, rim_mm: float, wt_mm: float, *, fragment: bool = False) -> dict:
    g = np.indices(SHAPE).astype(float)
    r = np.sqrt((g[0] - 45) ** 2 + (g[1] - 45) ** 2 + ((g[2] - 20) * 2) ** 2)
    d = np.zeros(SHAPE, np.int16)
    d[r < wt_mm] = 2
    d[r < rim_mm] = 4
    d[r < core_mm] = 1
    if fragment:  # cut the rim into four arcs, each narrower than 10 mm across
        cut = (np.abs(g[0] - 45) < 2) | (np.abs(g[1] - 45) < 2)
        d[(d == 4) & cut] = 1
    return measure_segmentation(Volume(d, AFFINE, Modality.SEG))


def test_fragmented_rim_is_not_a_response() -> None:
    before = _tumour(12, 15, 24)
    after = _tumour(12, 15, 24, fragment=True)  # the same lesion, rim segmented in pieces
    assert after["ET"].sum_of_products_mm2 == 0.0  # no piece of the rim is measurable
    assert after["TC"].sum_of_products_mm2 == before["TC"].sum_of_products_mm2
    # the old ET-only reading calls this a complete-looking partial response
    assert compare_measurements(before, after, region="ET")["response"]["category"] == "PR"
    out = compare_measurements(before, after)
    assert out["response"]["category"] == "SD"
    assert out["response"]["spd_change_percent"] == pytest.approx(0.0)


def test_growth_of_core_and_whole_tumour_is_progression() -> None:
    # TC 15 -> 18 mm radius (SPD x1.44), WT 24 -> 26 mm
    out = compare_measurements(_tumour(12, 15, 24), _tumour(14, 18, 26, fragment=True))
    assert out["response"]["category"] == "PD"


def test_visit_without_t1ce_is_not_evaluable_not_zero() -> None:
    before = _tumour(12, 15, 24)
    blind = _tumour(0, 0, 25)  # what a segmenter returns without contrast: all edema
    assert blind["ET"].volume_ml == 0.0
    seen_after = observable_regions(["t1", "flair"])
    assert seen_after == {"WT"}
    out = compare_measurements(before, blind, observable_after=seen_after)
    assert out["response"]["category"] == "NE"  # not CR from "ET vanished"
    assert "ET" not in out["regions"] and "TC" not in out["regions"]
    assert "ET" in out["not_compared"]
    assert out["response"]["spd_change_percent"] is None
    assert out["regions"]["WT"]["volume_ml"]["percent"] == pytest.approx(
        100 * (blind["WT"].volume_ml / before["WT"].volume_ml - 1)
    )


def test_whole_tumour_growth_is_progression_even_without_contrast() -> None:
    before = _tumour(12, 15, 24)
    grown = _tumour(0, 0, 28)  # WT volume x (28/24)^3 = 1.59
    out = compare_measurements(before, grown, observable_after={"WT"})
    assert out["response"]["category"] == "PD"
    assert out["response"]["nonenhancing_change_percent"] > 40
    # with contrast, the enhancing lesion shrinking by more than half does not hide WT growth
    shrunk_core = _tumour(5, 7, 28)
    assert compare_measurements(before, shrunk_core)["response"]["category"] == "PD"
    assert compare_measurements(before, _tumour(5, 7, 24))["response"]["category"] == "PR"


def test_observable_regions_declared_and_derived() -> None:
    assert observable_regions(["t1ce", "flair"]) >= {"WT", "TC", "ET"}
    assert observable_regions([]) >= {"WT", "TC", "ET"}  # unknown: assume all
    assert observable_regions(["t1ce"], declared=["WT"]) == {"WT"}


def test_progression_is_judged_against_the_nadir() -> None:
    base = VisitMeasurements("v0", _tumour(12, 15, 24))  # TC SPD 30x30 class
    nadir = VisitMeasurements("v1", _tumour(6, 9, 20))
    no_contrast = VisitMeasurements("v2", _tumour(0, 0, 20), observable={"WT"})
    regrown = VisitMeasurements("v3", _tumour(8, 11, 20))
    spd = {v.label: v.measurements["TC"].sum_of_products_mm2 for v in (base, nadir, regrown)}
    assert spd["v3"] < 0.6 * spd["v0"]  # still a partial response against baseline
    assert spd["v3"] >= 1.25 * spd["v1"]  # but >= 25 % above the nadir
    out = assess_response([base, nadir, no_contrast, regrown])
    resp = out["response"]
    assert resp["category"] == "PD"
    assert (resp["baseline"], resp["nadir"], resp["compared_with"]) == ("v0", "v1", "v1")
    # without the regrowth the same series is a partial response against baseline
    steady = VisitMeasurements("v3", _tumour(6, 9, 20))
    resp = assess_response([base, nadir, no_contrast, steady])["response"]
    assert (resp["category"], resp["compared_with"]) == ("PR", "v0")


def test_mostly_non_enhancing_core_is_said() -> None:
    before = _tumour(12, 15, 24)  # ET is most of TC
    faint = _tumour(14.5, 15, 24)  # a rim of 0.5 mm: ET well under 10 % of TC
    assert faint["ET"].volume_ml < 0.1 * faint["TC"].volume_ml
    reasons = compare_measurements(before, faint)["response"]["reasons"]
    assert any("mostly non-enhancing tumour core at the follow-up visit" in r for r in reasons)
    assert not any(
        "non-enhancing tumour core" in r
        for r in compare_measurements(before, before)["response"]["reasons"]
    )


def test_a_stored_visit_shows_what_its_segmentation_declared_else_what_its_images_allow() -> None:
    from braintwin.measure import stored_observable

    declared = {"segmentation": {"observable_regions": ["WT"]}}
    assert stored_observable(declared, ["t1ce", "flair"]) == frozenset({"WT"})
    assert stored_observable({}, [Modality.FLAIR]) == frozenset({"WT"})  # no T1ce
    every = frozenset(r.value for r in Region)
    assert stored_observable({"segmentation": None}, ["t1ce"]) == every
