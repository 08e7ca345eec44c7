"""Virtual patients of the in-silico trial: which (D_w, rho) prior they are drawn from."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.calibrate.population import load_population
from braintwin.calibrate.trial import assessment_days, draw_patients
from braintwin.errors import InputError
from braintwin.growth.parameters import PRIORS


def test_trial_patients_from_the_untreated_literature_prior() -> None:
    pats = draw_patients(400, np.random.default_rng(1), prior="literature")
    d = np.log([p.params.D_w for p in pats])
    r = np.log([p.params.rho for p in pats])
    (d_lo, d_hi, _), (r_lo, r_hi, _) = PRIORS["D_w"], PRIORS["rho"]
    assert d.min() >= np.log(d_lo) and d.max() <= np.log(d_hi)
    assert r.min() >= np.log(r_lo) and r.max() <= np.log(r_hi)
    # Log-uniform: the log-median sits mid-range (tolerance ~4 standard errors at n = 400).
    assert np.median(d) == pytest.approx(0.5 * np.log(d_lo * d_hi), abs=0.45)
    assert np.median(r) == pytest.approx(0.5 * np.log(r_lo * r_hi), abs=0.45)


def test_trial_patients_default_to_the_shipped_population_prior() -> None:
    pats = draw_patients(200, np.random.default_rng(1))
    prior = load_population()["prior"]
    (d_lo, d_hi), (r_lo, r_hi) = prior["bounds"]["D_w"], prior["bounds"]["rho"]
    d = np.array([p.params.D_w for p in pats])
    r = np.array([p.params.rho for p in pats])
    assert d.min() >= d_lo and d.max() <= d_hi and r.min() >= r_lo and r.max() <= r_hi
    # Its truncated log-normal sits far below the literature range in D_w (median < 0.02).
    assert np.median(d) < PRIORS["D_w"][0]
    with pytest.raises(InputError):
        draw_patients(2, np.random.default_rng(1), prior="untreated-please")


def test_trial_assessment_schedule_follows_stupp_2005() -> None:
    days = np.arange(0.0, 400.0, 7.0)
    assert np.array_equal(assessment_days(days, "weekly"), np.arange(days.size))
    # Baseline, 4 weeks after the last fraction (day 70), then every 3 months (91 days).
    np.testing.assert_array_equal(days[assessment_days(days, "trial")], [0, 70, 161, 252, 343])
    with pytest.raises(InputError):
        assessment_days(days, "monthly")
