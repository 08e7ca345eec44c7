"""Priors, likelihood kernels and the grid emulator (synthetic inputs, known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.calibrate.emulator import build_emulator
from braintwin.calibrate.likelihood import (
    ObservationModel,
    bernoulli_loglik,
    bernoulli_loglik_reference,
    log_likelihood,
    soft_mask,
)
from braintwin.calibrate.priors import LITERATURE_BOUNDS, Prior, literature_prior
from braintwin.errors import ConfigurationError, InputError


def test_literature_prior_support_and_samples(rng: np.random.Generator) -> None:
    p = literature_prior(("D_w", "rho", "alpha"))
    s = np.exp(p.sample(500, rng))
    for i, n in enumerate(p.names):
        lo, hi = LITERATURE_BOUNDS[n]
        assert s[:, i].min() >= lo and s[:, i].max() <= hi
    assert p.log_prob(np.log([0.1, 0.01, 0.03])) == 0.0
    assert p.log_prob(np.log([5.0, 0.01, 0.03])) == -np.inf
    with pytest.raises(ConfigurationError):
        literature_prior(("kappa",))


def test_lognormal_from_samples_roundtrip(rng: np.random.Generator) -> None:
    mean, cov = np.log([0.2, 0.02]), np.array([[0.09, 0.03], [0.03, 0.04]])
    draws = rng.multivariate_normal(mean, cov, size=20000)
    p = Prior.from_samples(("D_w", "rho"), draws)
    np.testing.assert_allclose(p.mean, mean, atol=0.01)
    np.testing.assert_allclose(p.cov, cov, atol=0.01)
    q = Prior.from_dict(p.to_dict())
    assert q.log_prob(mean) == pytest.approx(p.log_prob(mean))
    assert q.log_prob(mean) > q.log_prob(mean + 0.5)
    # Adding alpha keeps D_w/rho and gives alpha its literature range.
    r = p.with_params(("D_w", "rho", "alpha"))
    assert r.names == ("D_w", "rho", "alpha") and r.cov.shape == (3, 3)
    with pytest.raises(InputError):
        Prior.from_samples(("D_w", "rho"), draws[:2])


def test_bernoulli_fast_matches_reference(rng: np.random.Generator) -> None:
    p = np.clip(rng.random((6, 5, 4)), 1e-3, 1 - 1e-3)
    p[:3] = 1e-3  # the fast form skips far-field voxels: they must still count
    y = (rng.random((6, 5, 4)) > 0.7).astype(np.float32)
    assert bernoulli_loglik(p, y) == pytest.approx(bernoulli_loglik_reference(p, y), rel=1e-9)


def test_soft_mask_is_the_indicator_far_from_the_boundary() -> None:
    u = np.zeros((30, 30, 30), np.float32)
    u[5:25, 5:25, 5:25] = 1.0
    p = soft_mask(u, 0.7, 2.0, (1.0, 1.0, 1.0))
    assert p[15, 15, 15] == pytest.approx(1 - 1e-3)
    assert p[0, 0, 0] == pytest.approx(1e-3)
    assert 0.4 < p[5, 15, 15] < 0.6  # on the edge: about one half


def test_likelihood_prefers_the_true_density() -> None:
    idx = np.indices((32, 32, 32))
    r = np.sqrt(((idx - 16) ** 2).sum(0)) * 2.0
    truth = np.clip(1.2 - r / 20, 0, 1).astype(np.float32)
    obs = {
        "enhancing": (truth >= 0.7).astype(np.float32),
        "flair": (truth >= 0.25).astype(np.float32),
    }
    m = ObservationModel()
    sp = (2.0, 2.0, 2.0)
    ll_true = log_likelihood(truth, obs, sp, m)
    ll_small = log_likelihood(np.clip(truth - 0.2, 0, 1), obs, sp, m)
    ll_big = log_likelihood(np.clip(truth + 0.2, 0, 1), obs, sp, m)
    assert ll_true > ll_small and ll_true > ll_big
    hot = ObservationModel(temperature=4.0)
    assert log_likelihood(truth, obs, sp, hot) == pytest.approx(ll_true / 4.0)
    with pytest.raises(InputError):
        ObservationModel(enhancing_threshold=0.2, flair_threshold=0.5)


def test_emulator_reproduces_an_analytic_loglik(rng: np.random.Generator) -> None:
    centre = np.array([-1.0, -3.5])
    prec = np.array([[40.0, 10.0], [10.0, 30.0]])
    calls = []

    def exact(th: np.ndarray) -> np.ndarray:
        calls.append(len(th))
        d = th - centre
        return -0.5 * np.einsum("ij,jk,ik->i", d, prec, d)

    lo, hi = np.log([0.02, 0.002]), np.log([1.5, 0.2])
    emu = build_emulator(exact, lo, hi, lambda r: np.zeros(len(np.atleast_2d(r))), points=[9, 9])
    assert len(emu.stages) >= 2  # it refined into the peak
    pts = centre + rng.normal(0, 0.15, (200, 2))
    err = np.abs(emu(pts) - exact(pts))
    assert np.median(err) < 0.1
    assert emu.n_runs == sum(calls[:-1])
