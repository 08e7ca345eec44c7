"""Solver backends: agreement with the reference, mass conservation, stability checks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import ndimage

from braintwin.errors import InputError, ModelError
from braintwin.growth import (
    SOLVERS,
    Domain,
    GrowthParameters,
    get_solver,
    simulate,
    stable_dt,
    standard_stupp,
)
from braintwin.types import Modality, Volume

AFF = np.diag([1.5, 1.5, 2.0, 1.0])


def _random_domain(rng: np.random.Generator, n: int = 18) -> Domain:
    """A blobby random brain with random tissue fractions (synthetic)."""
    blob = ndimage.gaussian_filter(rng.random((n, n, n)), 2.0)
    mask = blob > np.quantile(blob, 0.35)
    w, g = rng.random((n, n, n)), rng.random((n, n, n))
    vol = lambda a, m=Modality.PROBABILITY: Volume(a.astype(np.float32), AFF, m)  # noqa: E731
    return Domain.from_tissue_maps(
        vol(w), vol(g), vol(rng.random((n, n, n))), vol(mask, Modality.MASK)
    )


def _random_u0(rng: np.random.Generator, dom: Domain) -> Volume:
    u = np.where(dom.mask, rng.random(dom.shape) ** 4, 0).astype(np.float32)
    return dom.volume(u)


@pytest.mark.parametrize("name", ["numba", "torch"])
def test_fast_backends_match_reference_with_treatment(rng: np.random.Generator, name: str) -> None:
    dom = _random_domain(rng)
    u0 = _random_u0(rng, dom)
    p = GrowthParameters(D_w=0.8, rho=0.08, alpha=0.05, gm_ratio=0.2, csf_ratio=0.05)
    plan = standard_stupp(dt.date(2024, 1, 1))
    t = [0.0, 3.0, 12.5, 30.0]
    ref = simulate(u0, dom, p, plan, t, solver="reference", crop=False)
    fast = simulate(u0, dom, p, plan, t, solver=name, crop=False)
    assert fast.steps == ref.steps
    for i in range(len(t)):
        np.testing.assert_allclose(fast.fields[i], ref.fields[i], atol=2e-6)
    assert not np.allclose(ref.fields[-1], ref.fields[0], atol=1e-2)  # something happened


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_pure_diffusion_conserves_cells(rng: np.random.Generator, name: str) -> None:
    dom = _random_domain(rng)
    solver = get_solver(name)
    D = np.pad(dom.diffusivity(GrowthParameters(D_w=1.0)), 1)  # halo of D = 0
    u = np.pad(np.where(dom.mask, rng.random(dom.shape), 0), 1).astype(solver.dtype)
    dt_ = 0.95 * stable_dt(float(D.max()), dom.spacing)
    total0 = float(u.sum(dtype=np.float64))
    state = solver.prepare(D, dom.spacing)
    out = solver.advance(state, u.copy(), 200, dt_, 1.0, 0.0)  # e=1, c=0: rho = 0, no kill
    rel = 1e-12 if solver.dtype == np.float64 else 2e-6
    assert float(out.sum(dtype=np.float64)) == pytest.approx(total0, rel=rel)
    assert not np.allclose(out, u, atol=1e-3)  # it did diffuse
    assert np.all(out[~np.pad(dom.mask, 1)] == 0)  # nothing leaks out of the brain


def test_unstable_explicit_step_is_refused(rng: np.random.Generator) -> None:
    dom = _random_domain(rng)
    p = GrowthParameters(D_w=1.0)
    limit = stable_dt(1.0, dom.spacing)
    with pytest.raises(ModelError, match="unstable"):
        simulate(_random_u0(rng, dom), dom, p, None, [0, 5], dt_days=1.01 * limit)
    ok = simulate(_random_u0(rng, dom), dom, p, None, [0, 5], dt_days=limit)
    assert ok.dt_days <= limit


def test_crop_matches_whole_brain(rng: np.random.Generator) -> None:
    m = np.zeros((48, 40, 36), np.uint8)
    m[2:-2, 2:-2, 2:-2] = 1
    dom = Domain.homogeneous(Volume(m, np.eye(4), Modality.MASK))
    u = np.zeros(m.shape, np.float32)
    u[10:12, 20:22, 18:20] = 0.9
    p = GrowthParameters(D_w=0.3, rho=0.1)
    a = simulate(dom.volume(u), dom, p, None, [0, 20, 60], crop=True)
    b = simulate(dom.volume(u), dom, p, None, [0, 20, 60], crop=False)
    assert a.cell_updates < b.cell_updates  # cropping did save work
    np.testing.assert_allclose(a.fields[-1], b.fields[-1], atol=1e-6)


def test_bad_inputs(rng: np.random.Generator) -> None:
    dom = _random_domain(rng)
    p = GrowthParameters()
    with pytest.raises(ModelError, match="unknown solver"):
        simulate(_random_u0(rng, dom), dom, p, None, [0, 1], solver="fortran")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        simulate(dom.volume(np.full(dom.shape, 2.0, np.float32)), dom, p, None, [0, 1])
    with pytest.raises(InputError, match="grid"):
        simulate(Volume(np.ones((3, 3, 3), np.float32), np.eye(4)), dom, p, None, [0, 1])
    with pytest.raises(ModelError, match="ascending"):
        simulate(_random_u0(rng, dom), dom, p, None, [5, 1])
    with pytest.raises(ModelError, match="dose map shape"):
        simulate(
            _random_u0(rng, dom),
            dom,
            p,
            standard_stupp(dt.date(2024, 1, 1)),
            [0, 5],
            dose=np.ones((4, 4, 4)),
        )


@pytest.mark.parametrize("n_steps", [1, 2, 5, 8])
def test_numba_parallel_blocked_steps_match_reference(
    rng: np.random.Generator, n_steps: int
) -> None:
    import numba

    dom = _random_domain(rng, n=36)  # > SERIAL_BELOW_CELLS: the parallel, two-step kernel
    D = np.pad(dom.diffusivity(GrowthParameters(D_w=1.2, gm_ratio=0.3)), 1)
    active = np.pad(dom.mask, 1)
    u = np.where(active, rng.random(active.shape), 0.0)
    dt_ = 0.9 * stable_dt(float(D.max()), dom.spacing)
    ref_solver, fast = get_solver("reference"), get_solver("numba")
    ref = ref_solver.advance(ref_solver.prepare(D, dom.spacing), u.copy(), n_steps, dt_, 1.02, 0.03)
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            state = fast.prepare(D, dom.spacing, active)
            out = fast.advance(state, u.astype(np.float32), n_steps, dt_, 1.02, 0.03)
            np.testing.assert_allclose(out, ref, atol=2e-6)
    finally:
        numba.set_num_threads(before)
