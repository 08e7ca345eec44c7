"""The in-silico trial (``eval population``): survival statistics and the progression rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from braintwin.calibrate.survival import cox_hazard_ratio, kaplan_meier, kaplan_meier_median
from braintwin.calibrate.trial import MEASURABLE_ML, PROGRESSION_RATIO, progression_day
from braintwin.errors import InputError


def test_kaplan_meier_known_answer() -> None:
    # Times 1..6, the 3rd censored: S = 5/6, 4/6, (censor), 4/6·2/3, ·1/2, 0.
    t = np.array([1, 2, 3, 4, 5, 6], float)
    e = np.array([1, 1, 0, 1, 1, 1], bool)
    ut, s = kaplan_meier(t, e)
    np.testing.assert_allclose(ut, [1, 2, 4, 5, 6])
    np.testing.assert_allclose(s, [5 / 6, 4 / 6, 4 / 9, 2 / 9, 0.0])
    assert kaplan_meier_median(t, e) == 4.0
    assert kaplan_meier_median(t, np.zeros(6, bool)) is None


def test_cox_recovers_a_known_hazard_ratio() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    t = np.r_[rng.exponential(2.0, n), rng.exponential(1.0, n)]  # group 1 hazard 0.5
    g = np.r_[np.ones(n), np.zeros(n)]
    hr, (lo, hi) = cox_hazard_ratio(np.minimum(t, 4.0), t < 4.0, g)
    assert lo < 0.5 < hi and hr == pytest.approx(0.5, abs=0.04)
    with pytest.raises(InputError):
        cox_hazard_ratio(t, np.zeros(2 * n, bool), g)


def test_progression_rule_is_rano_volumetric_from_nadir() -> None:
    days = np.arange(0, 70, 7.0)
    assert pytest.approx(1.25**1.5) == PROGRESSION_RATIO
    # Shrinks to a nadir of 5 mL, then +30 % (no), then +45 % (yes).
    v = np.array([10, 8, 6, 5, 5, 6.5, 7.25, 9, 9, 9])
    assert progression_day(days, v) == (42.0, True)
    # A tiny nadir needs a measurable absolute increase too: 0.1 -> 0.3 mL is not progression.
    v = np.array([1, 0.1, 0.3, 0.3, 0.1 + MEASURABLE_ML + 0.01, 1, 1, 1, 1, 1])
    assert progression_day(days, v) == (28.0, True)
    assert progression_day(days, np.full(10, 3.0)) == (63.0, False)  # censored


@pytest.mark.slow
def test_eval_population_cli_prints_the_json_contract() -> None:
    from braintwin.cli import _register_all, app

    _register_all()
    res = CliRunner().invoke(
        app, ["eval", "population", "--n", "4", "--resolution", "8", "--years", "1"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["n"] == 4 and set(out["arms"]) == {"stupp", "rt_alone"}
    for arm in out["arms"].values():
        assert "median_pfs_months" in arm
    assert "hazard_ratio" in out and 0 <= out["vanished_within_4_weeks"] <= 1
    assert "T1ce-visible (TC)" in res.output
    again = CliRunner().invoke(
        app, ["eval", "population", "--n", "4", "--resolution", "8", "--years", "1"]
    )
    assert json.loads(again.output.strip().splitlines()[-1])["arms"] == out["arms"]  # seeded


def test_eval_population_bad_input_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    from braintwin.cli import main

    for args in (["--n", "1"], ["--resolution", "0.5"]):
        with pytest.raises(SystemExit) as ex:
            main(["eval", "population", *args])
        assert ex.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err
