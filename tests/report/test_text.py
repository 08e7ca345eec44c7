"""Numbers rounded for people, the plain-language summary and the RANO table (known answers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from braintwin.measure import VisitMeasurements
from braintwin.report.numbers import fixed, ml, percent, sig, value
from braintwin.report.rano import rano_blocks, rano_rows
from braintwin.report.summary import CAVEAT, ForecastFacts, SummaryFacts, plain_summary


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.123456789012345, "0.123"),
        (1234.56, "1235"),
        (2.0, "2"),
        (0.0427123456, "0.0427"),
        (0.000012345, "1.23e-05"),
        (0.0, "0"),
        (None, "–"),
        (float("nan"), "–"),
        (float("inf"), "∞"),
    ],
)
def test_significant_digits(x: float | None, text: str) -> None:
    assert sig(x) == text


def test_volumes_percent_and_records_read_like_text() -> None:
    assert ml(105.93) == "105.9" and ml(1.6912) == "1.69" and ml(None) == "–"
    assert fixed(25.8123) == "25.8" and fixed(346.4, 0) == "346"
    assert percent(24.6) == "+25 %" and percent(-53.2) == "-53 %" and percent(None) == "–"
    raw = {"n_walkers": 32, "acceptance_fraction": 0.49312345678, "ok": True, "tau": [50.51, 49.49]}
    text = value(raw)
    assert text == "n walkers: 32; acceptance fraction: 0.493; ok: yes; tau: 50.5, 49.5"
    assert "{" not in text and "[" not in text and "'" not in text


def _m(spd: float, volume: float, et: float | None = None) -> dict[str, Any]:
    """A stored measurement record with the fields the response reads."""
    base = {
        "voxel_count": int(volume * 1000),
        "largest_diameter_mm": 30.0,
        "index_lesion_diameter_mm": 30.0,
        "longest_axial_mm": 30.0,
        "perpendicular_mm": 20.0,
        "bidimensional_mm2": spd,
        "axial_slice": 10,
        "sum_of_products_mm2": spd,
        "n_measurable": 1,
        "centroid_mm": [0.0, 0.0, 0.0],
        "n_components": 1,
    }
    return {
        "WT": {**base, "region": "WT", "volume_ml": volume * 2},
        "TC": {**base, "region": "TC", "volume_ml": volume},
        "ET": {**base, "region": "ET", "volume_ml": volume if et is None else et},
    }


def test_rano_rows_baseline_nadir_and_categories() -> None:
    visits = [
        VisitMeasurements("2020-01-01", _m(1000.0, 10.0)),
        VisitMeasurements("2020-03-01", _m(400.0, 5.0)),  # -60 % vs baseline: PR
        VisitMeasurements("2020-05-01", _m(600.0, 6.0)),  # +50 % vs nadir 400: PD
        VisitMeasurements("2020-07-01", _m(800.0, 5.0, et=0.0)),  # no enhancing left
    ]
    rows = rano_rows(visits[:3])
    assert [r.category for r in rows] == ["baseline", "PR", "PD"]
    assert rows[1].vs_baseline == pytest.approx(-60.0)
    assert rows[2].vs_baseline == pytest.approx(-40.0)
    assert rows[2].vs_nadir == pytest.approx(50.0)
    assert rows[2].compared_with == "2020-03-01"  # PD is judged against the nadir
    assert rows[2].wt_change == pytest.approx(-40.0)
    assert rano_rows(visits)[3].category == "CR"
    blocks = rano_blocks(visits[:3])
    table = next(b for b in blocks if hasattr(b, "header"))
    assert table.rows[2][5:9] == ("-40 %", "+50 %", "-40 %", "PD (progressive disease)")


def test_rano_never_reads_a_visit_without_t1ce_as_zero() -> None:
    visits = [
        VisitMeasurements("2020-01-01", _m(1000.0, 10.0)),
        VisitMeasurements("2020-03-01", _m(0.0, 10.0, et=0.0), observable={"WT"}),
    ]
    row = rano_rows(visits)[1]
    assert row.spd_mm2 is None and row.vs_baseline is None
    assert row.category in {"NE", "SD"}  # WT unchanged: not evaluable, never "CR"


def test_summary_says_what_changed_under_which_plan_with_the_caveat() -> None:
    facts = SummaryFacts(
        dates=[dt.date(2020, 1, 1), dt.date(2020, 4, 10)],
        volumes=[{"WT": 40.0, "TC": 10.0, "ET": 6.0}, {"WT": 60.0, "TC": 10.2, "ET": 6.6}],
        response="PD",
        response_basis="SPD +30 % against the nadir of 2020-01-01",
        forecast=ForecastFacts(
            dt.date(2020, 4, 10),
            dt.date(2020, 7, 9),
            "'stupp' from 2020-04-20: 60 Gy in 30 fractions + temozolomide",
            tc_median_ml=12.345678,
            tc_q05_ml=8.0,
            tc_q95_ml=20.0,
            ttp_median_days=91.3,
        ),
    )
    text = plain_summary(facts)
    assert text.startswith("2 MRI visits over 100 days (2020-01-01 to 2020-04-10).")
    assert "whole tumour grew by 50 % (40.0 → 60.0 mL)" in text
    assert "tumour core is about the same" in text
    assert "PD (progressive disease; SPD +30 % against the nadir of 2020-01-01)" in text
    assert "plan 'stupp' (60 Gy in 30 fractions + temozolomide, starting 2020-04-20)" in text
    assert "12.3 mL on 2020-07-09" in text and "8.00–20.0 mL" in text
    assert "3.0 months" in text
    assert text.endswith(CAVEAT)


def test_summary_without_segmentation_or_model() -> None:
    text = plain_summary(SummaryFacts(dates=[dt.date(2020, 1, 1)], volumes=[{}]))
    assert "1 MRI visit (2020-01-01)." in text and "no tumour segmentation yet" in text
    assert "No growth forecast has been made yet." in text and text.endswith(CAVEAT)
    assert plain_summary(SummaryFacts(dates=[], volumes=[])).startswith("No imaging visit")
