"""Seed-grown density profiles: the initial condition behind a segmentation."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.growth import GrowthParameters, density_from_segmentation, to_segmentation
from braintwin.growth.profile import radial_profile
from braintwin.types import Modality, Volume


def test_profile_crosses_the_anchor_threshold_at_the_edge_and_decays() -> None:
    prof = radial_profile(0.1, 0.05, 10.0, 0.7)
    assert prof.reached
    assert prof(np.array([0.0]))[0] == pytest.approx(0.7, abs=0.02)
    s = np.linspace(-10, 20, 200)
    u = prof(s)
    assert np.all(np.diff(u) <= 1e-9)  # monotone: dense core, decaying infiltration
    assert u[0] > 0.9  # near carrying capacity deep inside


def test_profile_width_scales_with_sqrt_d_over_rho() -> None:
    # Same sqrt(D/rho): same shape (time rescales by 1/rho); larger sqrt(D/rho): longer tail.
    a = radial_profile(0.2, 0.02, 12.0, 0.7)
    b = radial_profile(0.02, 0.002, 12.0, 0.7)
    s = np.linspace(0, 15, 50)
    np.testing.assert_allclose(a(s), b(s), atol=1e-3)
    assert b.days == pytest.approx(10 * a.days, rel=0.01)
    wide = radial_profile(0.5, 0.005, 12.0, 0.7)
    narrow = radial_profile(0.05, 0.05, 12.0, 0.7)
    assert wide.reach_mm > 3 * narrow.reach_mm
    with pytest.raises(InputError):
        radial_profile(0.0, 0.05, 10.0, 0.7)


def _seg() -> Volume:
    idx = np.indices((40, 40, 40)) - 20
    r = np.sqrt((idx**2).sum(axis=0))
    seg = np.zeros((40, 40, 40), np.uint8)
    seg[r <= 9] = 2
    seg[r <= 5] = 4
    return Volume(seg, np.eye(4), Modality.SEG)


def test_density_keeps_observed_regions_and_follows_parameters() -> None:
    seg = _seg()
    tails = []
    for params in (GrowthParameters(D_w=0.05, rho=0.05), GrowthParameters(D_w=1.0, rho=0.01)):
        u = density_from_segmentation(seg, params=params).data
        back = to_segmentation(seg.with_data(u, Modality.DENSITY)).data
        np.testing.assert_array_equal(back == 4, seg.data == 4)
        np.testing.assert_array_equal(back > 0, seg.data > 0)
        tails.append(float(u[20, 20, 33]))  # 3-4 mm beyond the FLAIR edge
    assert 0 <= tails[0] < tails[1] < 0.25  # the diffuse tumour infiltrates further


def test_binary_mask_gets_a_core_and_an_invisible_tail() -> None:
    idx = np.indices((30, 30, 30)) - 15
    mask = (np.sqrt((idx**2).sum(axis=0)) <= 6).astype(np.uint8)
    compact = GrowthParameters(D_w=0.05, rho=0.05)
    u = density_from_segmentation(Volume(mask, np.eye(4), Modality.MASK), params=compact).data
    assert u[15, 15, 15] > 0.9 and np.all(u[mask > 0] >= 0.7)
    assert np.all(u[mask == 0] < 0.7) and u[15, 15, 23] > 0
