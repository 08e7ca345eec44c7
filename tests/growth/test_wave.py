"""Known answers for the PDE: Fisher-KPP front speed 2·sqrt(D rho), radial symmetry, logistic.

Front speeds converge to 2·sqrt(D rho) only slowly (Bramson's log correction: a front from
compact initial data lags by 3/(2 lambda) ln t in 1D, lambda = sqrt(rho/D); (d+2)/(2 lambda)
ln t for a radial front in d dimensions; Bramson 1983, Gärtner 1982), so the speed is measured
at late times where the correction is below ~1 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from braintwin.growth import Domain, GrowthParameters, simulate
from braintwin.types import Modality, Volume


def _front_1d(u: np.ndarray, h: float) -> float:
    """Position (mm) where a decreasing profile crosses 0.5, linearly interpolated."""
    k = int(np.nonzero(u < 0.5)[0][0])
    return h * (k - 1 + (u[k - 1] - 0.5) / (u[k - 1] - u[k]))


def test_1d_travelling_wave_speed() -> None:
    D, rho, h = 1.0, 0.25, 0.5  # c* = 1 mm/day, lambda h = 0.25
    t1, t2 = 200.0, 400.0  # rho t = 50..100: Bramson lag over the interval ~1 % of c*
    n = int((2 * np.sqrt(D * rho) * t2 + 40) / h)
    aff = np.diag([1.0, 1.0, h, 1.0])  # the 1D line runs along z (the contiguous axis)
    dom = Domain.homogeneous(Volume(np.ones((1, 1, n), np.uint8), aff, Modality.MASK))
    u0 = np.zeros((1, 1, n), np.float32)
    u0[..., : int(5 / h)] = 1.0
    tr = simulate(dom.volume(u0), dom, GrowthParameters(D_w=D, rho=rho), None, [0, t1, t2])
    x1, x2 = (_front_1d(tr.fields[i][0, 0], h) for i in (1, 2))
    speed = (x2 - x1) / (t2 - t1)
    assert speed == pytest.approx(2 * np.sqrt(D * rho), rel=0.02)


def _spherical_radius(
    D: float, rho: float, r0: float, times: list[float], h: float = 0.1
) -> list[float]:
    """Independent radial solver: u_t = D (u_rr + 2 u_r / r) + rho u (1 - u), finite volumes
    in spherical shells (float64, explicit, small step); radius of the u = 0.5 level."""
    R = 2 * np.sqrt(D * rho) * times[-1] + 30 * np.sqrt(D / rho) + r0
    n = int(R / h)
    faces = h * np.arange(n + 1)
    area = faces**2
    vol = (faces[1:] ** 3 - faces[:-1] ** 3) / 3
    u = (h * (np.arange(n) + 0.5) <= r0).astype(float)
    dt = 0.25 * h * h / D  # the centre cell needs dt <= h²/(3D)
    out, t = [], 0.0
    for target in times:
        steps = int(np.ceil((target - t) / dt))
        step = (target - t) / steps
        for _ in range(steps):
            flux = D * area[1:-1] * (u[1:] - u[:-1]) / h
            div = np.zeros_like(u)
            div[:-1] += flux
            div[1:] -= flux
            u = u + step * div / vol
            e = np.exp(rho * step)
            u = e * u / (1 + (e - 1) * u)
        t = target
        out.append(_front_1d(u, h) + 0.5 * h)  # cell centres sit at (i + 1/2) h
    return out


def _octant_radii(D: float, rho: float, h: float, times: list[float]) -> tuple[list[float], float]:
    n = int((2 * np.sqrt(D * rho) * times[-1] + 8) / h)
    aff = np.diag([h, h, h, 1.0])
    dom = Domain.homogeneous(Volume(np.ones((n, n, n), np.uint8), aff, Modality.MASK))
    u0 = np.zeros((n, n, n), np.float32)
    u0[:4, :4, :4] = 1.0  # a corner cube; no-flux walls mirror it into an 8h-wide cube
    tr = simulate(dom.volume(u0), dom, GrowthParameters(D_w=D, rho=rho), None, [0.0, *times])
    assert tr.crop_edge_density < 1e-6  # the crop box never cut into the tumour
    radii = [float((6 * (f >= 0.5).sum() * h**3 / np.pi) ** (1 / 3)) for f in tr.fields[1:]]  # type: ignore[operator]
    r0 = float((3 * (8 * h) ** 3 / (4 * np.pi)) ** (1 / 3))  # sphere of the seed's volume
    return radii, r0


def test_3d_radial_front_matches_spherical_solution() -> None:
    D, rho, h = 1.0, 0.25, 0.5
    times = [20.0, 32.0]
    radii, r0 = _octant_radii(D, rho, h, times)
    ref = _spherical_radius(D, rho, r0, times)
    np.testing.assert_allclose(radii, ref, rtol=0.02)
    speed, ref_speed = (radii[1] - radii[0]) / 12.0, (ref[1] - ref[0]) / 12.0
    assert speed == pytest.approx(ref_speed, rel=0.02)


@pytest.mark.slow
def test_radial_front_speed_tends_to_2_sqrt_D_rho() -> None:
    # The spherical solution (validated against the 3D solver above) at rho t = 100..200:
    # Gärtner's (d+2)/(2 lambda) ln t lag costs < 1 % of c* over this interval.
    D, rho = 1.0, 0.25
    r = _spherical_radius(D, rho, 2.5, [400.0, 800.0], h=0.25)
    assert (r[1] - r[0]) / 400.0 == pytest.approx(2 * np.sqrt(D * rho), rel=0.02)


def test_radial_symmetry_in_homogeneous_medium() -> None:
    n = 41
    dom = Domain.homogeneous(Volume(np.ones((n, n, n), np.uint8), np.eye(4), Modality.MASK))
    u0 = np.zeros((n, n, n), np.float32)
    u0[19:22, 19:22, 19:22] = 1.0
    tr = simulate(dom.volume(u0), dom, GrowthParameters(D_w=0.3, rho=0.2), None, [0.0, 30.0])
    u = tr.fields[1]
    assert u is not None and 0.5 < u.max() < 0.95  # a front, not yet saturated
    # Exact symmetries of the stencil: axis permutations and mirror images.
    np.testing.assert_allclose(u, u.transpose(1, 2, 0), atol=1e-6)
    np.testing.assert_allclose(u, u[::-1, :, :], atol=1e-6)
    # Isotropy: the profile along an axis, a face diagonal and the main diagonal agree.
    r = np.arange(0.0, 18.0, 0.5)
    zero = np.zeros_like(r)
    axis = ndimage.map_coordinates(u, [20 + r, 20 + zero, 20 + zero], order=1)
    d2, d3 = r / np.sqrt(2), r / np.sqrt(3)
    face = ndimage.map_coordinates(u, [20 + d2, 20 + d2, 20 + zero], order=1)
    diag = ndimage.map_coordinates(u, [20 + d3, 20 + d3, 20 + d3], order=1)
    assert axis[0] - axis[-1] > 0.5  # the profile spans the front
    assert np.abs(axis - diag).max() < 0.02
    assert np.abs(axis - face).max() < 0.02


def test_uniform_field_follows_logistic_closed_form() -> None:
    dom = Domain.homogeneous(Volume(np.ones((6, 6, 6), np.uint8), np.eye(4), Modality.MASK))
    u0 = dom.volume(np.full((6, 6, 6), 0.01, np.float32))
    rho, t = 0.07, np.array([0.0, 20.0, 50.0, 120.0])
    tr = simulate(u0, dom, GrowthParameters(D_w=1.0, rho=rho), None, t, solver="reference")
    exact = 0.01 * np.exp(rho * t) / (1 + 0.01 * (np.exp(rho * t) - 1))
    np.testing.assert_allclose([f.mean() for f in tr.fields], exact, rtol=1e-6)  # float32 out  # type: ignore[union-attr]
