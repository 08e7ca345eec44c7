"""Survival analysis of virtual trials: Kaplan-Meier bands, medians, bootstrap, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from braintwin.calibrate.survival import kaplan_meier_median
from braintwin.calibrate.trial import ArmOutcome, VirtualPatient
from braintwin.cohort.analysis import analyse, bootstrap_medians, km_median, km_with_bands
from braintwin.cohort.results import ResultsFolder
from braintwin.cohort.spec import PatientOutcome, TrialSettings, named_arm
from braintwin.errors import InputError
from braintwin.growth.parameters import GrowthParameters

# Freireich et al. 1963 6-MP arm (weeks of remission, + = censored), the textbook example of
# Gehan 1965; Kaplan-Meier with Greenwood SE and log(-log) 95 % limits as printed by R's
# survival::survfit(Surv(time, status) ~ 1, conf.type = "log-log").
GEHAN_6MP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
GEHAN_6MP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
GEHAN_TABLE = [  # time, n.risk, n.event, survival, std.err, lower, upper
    (6, 21, 3, 0.857, 0.0764, 0.620, 0.952),
    (7, 17, 1, 0.807, 0.0869, 0.563, 0.923),
    (10, 15, 1, 0.753, 0.0963, 0.503, 0.889),
    (13, 12, 1, 0.690, 0.1068, 0.432, 0.849),
    (16, 11, 1, 0.627, 0.1141, 0.368, 0.805),
    (22, 7, 1, 0.538, 0.1282, 0.268, 0.747),
    (23, 6, 1, 0.448, 0.1346, 0.188, 0.680),
]


def test_kaplan_meier_greenwood_loglog_bands_known_answer() -> None:
    c = km_with_bands(GEHAN_6MP_T, GEHAN_6MP_E)
    want = np.array(GEHAN_TABLE, float)
    np.testing.assert_array_equal(c.times, want[:, 0])
    np.testing.assert_array_equal(c.at_risk, want[:, 1])
    np.testing.assert_array_equal(c.events, want[:, 2])
    np.testing.assert_allclose(c.survival, want[:, 3], atol=5e-4)
    np.testing.assert_allclose(c.std_err, want[:, 4], atol=5e-5)
    np.testing.assert_allclose(c.lower, want[:, 5], atol=5e-4)
    np.testing.assert_allclose(c.upper, want[:, 6], atol=5e-4)
    assert c.at(5.9) == (1.0, 1.0, 1.0) and c.at(12.0)[0] == pytest.approx(0.753, abs=5e-4)
    assert km_median(GEHAN_6MP_T, GEHAN_6MP_E) == 23.0  # R: median 23


def test_km_median_agrees_with_the_trial_engine_and_bands_hold_at_zero() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        t = np.round(rng.exponential(100.0, 30))
        e = rng.uniform(size=30) < 0.7
        assert km_median(t, e) == kaplan_meier_median(t, e)
    # Everyone progresses at once: survival drops to 0, the band collapses there (no NaN).
    c = km_with_bands([5.0, 5.0], [True, True])
    assert c.survival.tolist() == [0.0] and c.lower.tolist() == [0.0]
    with pytest.raises(InputError):
        km_with_bands([1.0, np.nan], [True, True])


def test_bootstrap_interval_covers_the_true_median() -> None:
    # Exponential PFS with median 200 days, 150 patients: the 95 % interval should contain it.
    rng = np.random.default_rng(7)
    t = rng.exponential(200.0 / np.log(2), (150, 1))
    boots = bootstrap_medians(np.minimum(t, 2000.0), t < 2000.0, draws=400)
    lo, hi = np.quantile(boots[:, 0], [0.025, 0.975])
    assert lo < 200.0 < hi and hi - lo < 150.0


def _outcome(i: int, days: tuple[float, float], events: tuple[bool, bool]) -> PatientOutcome:
    pat = VirtualPatient(GrowthParameters(D_w=0.01, rho=0.01, alpha=0.03), 5.0, (0.0, 0.0, 0.0))
    arms = {
        name: ArmOutcome(d, e, False, (5.0, 5.0))
        for name, d, e in zip(("stupp", "rt"), days, events, strict=True)
    }
    return PatientOutcome(i, pat, arms)


def test_analysis_summary_and_report_files(tmp_path: Path) -> None:
    from braintwin.cohort.report import trial_report

    rng = np.random.default_rng(0)
    outs = []
    for i in range(40):
        rt = float(rng.exponential(150.0))
        outs.append(_outcome(i, (min(rt * 1.8, 700.0), min(rt, 700.0)), (rt * 1.8 < 700, rt < 700)))
    summary, curves = analyse(outs, ["stupp", "rt"], draws=400)
    assert set(curves) == {"stupp", "rt"} and summary["reference_arm"] == "rt"
    hr = summary["hazard_ratios"]["stupp vs rt"]
    assert hr["hazard_ratio"] < 1.0 and hr["median_pfs_gain_months"] > 0
    for arm in ("stupp", "rt"):
        a = summary["arms"][arm]
        lo, hi = a["median_pfs_months_95ci"]
        lo90, hi90 = a["median_pfs_months_90ci"]
        assert lo <= lo90 <= a["median_pfs_months"] <= hi90 <= hi
    # The report reads a results folder and writes summary.json and pfs.png atomically.
    folder = ResultsFolder(tmp_path / "trial")
    folder.open(TrialSettings(n=40, horizon_days=700.0), (named_arm("stupp"), named_arm("rt")))
    for o in outs:
        folder.write(o)
    rep = trial_report(folder.root, draws=200)
    assert rep["complete"] and rep["published"]["hazard_ratio"] == 0.54
    assert json.loads((folder.root / "summary.json").read_text())["n"] == 40
    assert (folder.root / "pfs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError):
        analyse(outs[:1], ["stupp", "rt"])
