"""calibrate / assimilate / forecast on a tiny SYNTHETIC patient (growth engine, 2 mm grid)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from braintwin.calibrate import (
    Forecast,
    ObservationModel,
    Posterior,
    assimilate,
    calibrate,
    check_visits,
    forecast,
    time_to_progression,
)
from braintwin.errors import CalibrationError, InputError
from braintwin.growth import Domain, GrowthParameters, simulate, to_segmentation
from braintwin.types import Modality, Volume

D0 = dt.date(2020, 1, 1)
FAST = {"grid_points": 5, "stages": 2, "n_walkers": 12, "n_steps": 300}
TRUTH = {"D_w": 0.1, "rho": 0.05}


@pytest.fixture(scope="module")
def patient() -> tuple[list[tuple[dt.date, Volume]], Volume]:
    """Two synthetic visits 30 days apart on a 24³ grid of 2 mm (homogeneous brain ball)."""
    n = 24
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    idx = np.indices((n, n, n))
    r = np.sqrt(((idx - n // 2) ** 2).sum(0)) * 2.0
    brain = Volume((r < 22).astype(np.uint8), aff, Modality.MASK)
    # Grown from a small seed (the history the calibration's initial condition assumes).
    u0 = Volume(np.where(r <= 2.0, 0.5, 0.0).astype(np.float32), aff, Modality.DENSITY)
    tr = simulate(u0, Domain.homogeneous(brain), GrowthParameters(**TRUTH), None, [0, 120, 150])
    segs = [to_segmentation(tr.at(d)) for d in (120, 150)]
    return [(D0, segs[0]), (D0 + dt.timedelta(days=30), segs[1])], brain


def test_calibrate_recovers_parameters(patient) -> None:  # type: ignore[no-untyped-def]
    visits, brain = patient
    post = calibrate(visits, brain, observation=ObservationModel(), seed=1, **FAST)
    assert post.source == "mcmc" and post.names == ("D_w", "rho")
    summ = post.summary()
    for name, true in TRUTH.items():
        lo, hi = summ[name]["interval_90"]
        assert lo < summ[name]["median"] < hi
        assert true / 2.5 < summ[name]["median"] < true * 2.5, (name, summ[name])
    # The data must have taught something: the posterior is far narrower than the prior box.
    width = np.log(summ["rho"]["interval_90"][1] / summ["rho"]["interval_90"][0])
    assert width < 0.5 * np.log(0.2 / 0.002)
    d = post.diagnostics
    assert 0.1 < d["acceptance_fraction"] < 0.9 and d["ess"] > 50 and d["forward_runs"] > 20


def test_one_visit_gives_the_prior_with_a_note(patient) -> None:  # type: ignore[no-untyped-def]
    visits, brain = patient
    post = calibrate(visits[:1], brain)
    assert post.source == "prior"
    assert any("one visit only" in n for n in post.notes)
    fc = forecast(post, None, None, D0 + dt.timedelta(days=30), n_samples=6, n_times=4)
    assert fc.source == "prior" and any("prior" in n for n in fc.notes)


def test_bad_visit_input(patient) -> None:  # type: ignore[no-untyped-def]
    visits, brain = patient
    ordered, notes = check_visits(list(reversed(visits)), brain)
    assert [d for d, _ in ordered] == [d for d, _ in visits] and "sorted" in notes[0]
    with pytest.raises(InputError, match="share one date"):
        check_visits([visits[0], (visits[0][0], visits[1][1])], brain)
    with pytest.raises(InputError, match="no visits"):
        check_visits([], brain)
    empty = visits[0][1].with_data(np.zeros(visits[0][1].shape, np.uint8))
    with pytest.raises(CalibrationError, match="first visit"):
        check_visits([(D0, empty), visits[1]], brain)
    with pytest.raises(CalibrationError, match="vanished"):
        calibrate([visits[0], (visits[1][0], empty)], brain, **FAST)
    far = D0 + dt.timedelta(days=3 * 365)
    _, notes = check_visits([visits[0], (far, visits[1][1])], brain)
    assert any("long" in n for n in notes)
    other_grid = Volume(brain.data, np.diag([1.0, 1.0, 1.0, 1.0]), Modality.MASK)
    with pytest.raises(InputError, match="grid"):
        check_visits(visits, other_grid)


def test_forecast_and_serialisation(patient) -> None:  # type: ignore[no-untyped-def]
    visits, brain = patient
    post = calibrate(visits, brain, observation=ObservationModel(), seed=2, **FAST)
    payload, vols = post.to_json()
    again = Posterior.from_json(payload, vols)
    np.testing.assert_allclose(again.samples, post.samples, rtol=1e-6)
    assert again.summary()["rho"]["median"] == pytest.approx(post.summary()["rho"]["median"])
    when = visits[-1][0] + dt.timedelta(days=60)
    fc = forecast(post, None, None, when, n_samples=8, n_times=6, credibility=0.5)
    p = fc.probability["enhancing"].data
    assert p.shape == brain.shape and p.min() >= 0 and p.max() <= 1
    np.testing.assert_array_equal(fc.masks["enhancing"].data > 0, p >= 0.5)
    # Untreated growth: the forecast enhancing region contains today's core, bands ordered.
    core = np.isin(visits[-1][1].data, (1, 4))
    assert (fc.masks["enhancing"].data[core] > 0).mean() > 0.9
    b = fc.volume_ml["enhancing"]
    assert np.all(b["q05"] <= b["q50"] + 1e-9) and np.all(b["q50"] <= b["q95"] + 1e-9)
    assert b["q50"][-1] > b["q50"][0]
    assert 0 <= fc.progression["p_progression_by_date"] <= 1
    fp, fv = fc.to_json()
    back = Forecast.from_json(fp, fv)
    assert back.date == when and set(back.masks) == {"enhancing", "flair"}
    with pytest.raises(InputError):
        forecast(post, None, None, D0, n_samples=4)


def test_assimilate_uses_the_posterior_as_prior(patient) -> None:  # type: ignore[no-untyped-def]
    visits, brain = patient
    post = calibrate(visits[:1], brain)
    new = assimilate(post, visits[1], **FAST)
    assert new.source == "mcmc" and new.visit_dates == [visits[0][0], visits[1][0]]
    with pytest.raises(InputError, match="not after"):
        assimilate(new, visits[0])


def test_time_to_progression_known_answers() -> None:
    days = np.array([0.0, 10.0, 20.0, 30.0])
    assert time_to_progression(days, np.array([1.0, 1.2, 1.6, 2.0]), 1.4) == pytest.approx(15.0)
    assert time_to_progression(days, np.array([1.0, 1.0, 1.1, 1.2]), 1.4) == np.inf


def test_malformed_stored_posterior_is_a_clear_error(patient) -> None:  # type: ignore[no-untyped-def]
    visits, brain = patient
    payload, vols = calibrate(visits[:1], brain).to_json()
    del payload["samples"]
    with pytest.raises(InputError, match="malformed"):
        Posterior.from_json(payload, vols)


@pytest.mark.slow
def test_sbc_bench_runs_on_one_synthetic_patient() -> None:
    from braintwin.calibrate.bench import fit_temperature, run_sbc

    res = run_sbc(1, seed=3, resolution_mm=4, calibrate_kwargs=FAST)
    assert res["n"] == 1 and res["synthetic"] is True
    assert set(res["coverage_90"]) == {"D_w", "rho"} and res["seconds_per_patient"] > 0
    assert fit_temperature(res, 10.0) >= 1.0
