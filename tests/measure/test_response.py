"""RANO-style response between two visits (synthetic volumes and measurements)."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.measure import (
    RegionMeasurement,
    compare_measurements,
    measure_segmentation,
    new_lesions,
    rano_category,
)
from braintwin.types import Modality, Volume


def _box(lo: tuple[int, int, int], hi: tuple[int, int, int], *, shape=(60, 60, 12)) -> np.ndarray:
    d = np.zeros(shape, np.int16)
    d[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = 4
    return d


def _measure(d: np.ndarray) -> dict[str, RegionMeasurement]:
    return measure_segmentation(Volume(d, np.eye(4), Modality.SEG))


def test_categories_from_real_measurements() -> None:
    base = _measure(_box((10, 10, 2), (40, 40, 8)))  # 30 x 30 mm lesion, SPD 1800 mm²
    spd0 = base["ET"].sum_of_products_mm2
    assert spd0 == pytest.approx(1800.0)
    shrunk = _measure(_box((10, 10, 2), (30, 30, 8)))  # 20 x 20: SPD -55.6 %
    grown = _measure(_box((10, 10, 2), (44, 44, 8)))  # 34 x 34: SPD +28.4 %
    similar = _measure(_box((10, 10, 2), (42, 40, 8)))
    gone = _measure(np.zeros((60, 60, 12), np.int16))
    assert compare_measurements(base, shrunk)["response"]["category"] == "PR"
    assert compare_measurements(base, grown)["response"]["category"] == "PD"
    assert compare_measurements(base, similar)["response"]["category"] == "SD"
    assert compare_measurements(base, gone)["response"]["category"] == "CR"
    assert compare_measurements(gone, gone)["response"]["category"] == "SD"
    assert compare_measurements(base, similar, new_lesion=True)["response"]["category"] == "PD"


def test_thresholds_are_inclusive() -> None:
    assert rano_category(100.0, 50.0, enhancing_after_ml=1.0) == "PR"
    assert rano_category(100.0, 50.1, enhancing_after_ml=1.0) == "SD"
    assert rano_category(100.0, 125.0, enhancing_after_ml=1.0) == "PD"
    assert rano_category(100.0, 124.9, enhancing_after_ml=1.0) == "SD"


def test_no_measurable_disease_at_baseline() -> None:
    assert rano_category(0.0, 150.0, enhancing_after_ml=0.5) == "PD"
    assert rano_category(0.0, 0.0, enhancing_after_ml=0.05) == "SD"
    # No enhancing tumour at either visit: nothing disappeared, so not a complete response.
    assert rano_category(0.0, 0.0, enhancing_after_ml=0.0, enhancing_before_ml=0.0) == "SD"
    assert rano_category(0.0, 0.0, enhancing_after_ml=0.0, enhancing_before_ml=0.2) == "CR"
    with pytest.raises(InputError):
        rano_category(-1.0, 0.0, enhancing_after_ml=0.0)


def test_changes_absolute_and_percent() -> None:
    base = _measure(_box((10, 10, 2), (20, 20, 7)))  # 0.5 mL
    after = _measure(_box((10, 10, 2), (20, 20, 10)))  # 0.8 mL
    out = compare_measurements(base, after)
    vol = out["regions"]["ET"]["volume_ml"]
    assert vol["absolute"] == pytest.approx(0.3)
    assert vol["percent"] == pytest.approx(60.0)
    assert out["regions"]["edema"]["volume_ml"]["percent"] is None  # 0 before: no percent
    assert "Wen" in out["response"]["reference"]
    # Measurements read back from JSON (dicts) work the same.
    as_dicts = {k: v.to_dict() for k, v in base.items()}
    assert compare_measurements(as_dicts, after)["regions"] == out["regions"]


def test_missing_region_raises() -> None:
    base = _measure(_box((10, 10, 2), (20, 20, 7)))
    with pytest.raises(InputError, match="ET"):
        compare_measurements({"WT": base["WT"]}, base)


def test_new_lesions() -> None:
    before = _box((10, 10, 2), (25, 25, 8))
    after = before.copy()
    after[40:55, 40:55, 2:8] = 4  # far away, measurable: new
    after[26:30, 10:25, 2:8] = 4  # grows from the old lesion: not new
    after[3:6, 40:43, 2:4] = 4  # far but too small to be measurable
    vb, va = (Volume(x, np.eye(4), Modality.SEG) for x in (before, after))
    assert new_lesions(vb, va) == 1
    assert new_lesions(vb, vb) == 0
    with pytest.raises(InputError, match="grid"):
        new_lesions(vb, Volume(after, np.diag([2.0, 1, 1, 1]), Modality.SEG))
