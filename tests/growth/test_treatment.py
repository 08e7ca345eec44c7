"""Treatment factories, LQ survival and target dose maps."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from braintwin.errors import ModelError
from braintwin.growth import (
    hypofractionated,
    lq_survival,
    radiotherapy_alone,
    standard_stupp,
    target_dose_map,
)

START = dt.date(2024, 1, 1)


def test_stupp_is_60gy_in_30_weekday_fractions() -> None:
    plan = standard_stupp(START)
    rt = plan.radiotherapy
    assert rt is not None
    assert len(rt.fractions) == 30 and rt.total_dose_gy == pytest.approx(60.0)
    days = [f.day for f in rt.fractions]
    assert days[:6] == [0, 1, 2, 3, 4, 7]  # weekends off
    assert days[-1] == 39  # six weeks
    tmz, *adjuvant = plan.chemotherapy
    assert tmz.dose_mg_m2 == 75.0 and tmz.start_day == 0 and tmz.end_day == 40
    # Six adjuvant cycles, 5 days every 28, from 4 weeks after radiotherapy; 150 then 200 mg/m².
    assert [c.start_day for c in adjuvant] == [68 + 28 * i for i in range(6)]
    assert all(c.end_day - c.start_day == 5 for c in adjuvant)
    assert [c.dose_mg_m2 for c in adjuvant] == [150.0] + [200.0] * 5
    assert adjuvant[1].kill_rate_per_day == pytest.approx(tmz.kill_rate_per_day * 200 / 75)
    assert len(standard_stupp(START, adjuvant=False).chemotherapy) == 1
    rt_only = radiotherapy_alone(START)
    assert rt_only.chemotherapy == () and rt_only.radiotherapy == plan.radiotherapy


def test_hypofractionated_is_40gy_in_15() -> None:
    rt = hypofractionated(START).radiotherapy
    assert rt is not None
    assert len(rt.fractions) == 15 and rt.total_dose_gy == pytest.approx(40.0)


def test_lq_survival_values() -> None:
    assert lq_survival(2.0, 0.03, 0.003) == pytest.approx(np.exp(-0.06 - 0.012))
    assert lq_survival(0.0, 0.03, 0.003) == 1.0
    with pytest.raises(ModelError):
        lq_survival(-1.0, 0.03, 0.003)


def test_target_is_tumour_grown_by_margin_inside_brain() -> None:
    n = 41
    tumour = np.zeros((n, n, n), bool)
    tumour[20, 20, 20] = True
    brain = np.ones_like(tumour)
    brain[:, :, :15] = False
    dose = target_dose_map(tumour, brain, (1.0, 1.0, 2.0), margin_mm=10.0)
    assert dose[20, 20, 20] == 1.0
    assert dose[30, 20, 20] == 1.0 and dose[31, 20, 20] == 0.0  # 10 mm along x
    assert dose[20, 20, 25] == 1.0 and dose[20, 20, 26] == 0.0  # 2 mm voxels along z
    assert dose[20, 20, 14] == 0.0  # outside the brain
    assert dose.dtype == np.float32
