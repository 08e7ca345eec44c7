"""Augmentation: deterministic transforms and the seeded random wrapper."""

from __future__ import annotations

import numpy as np
import torch

from braintwin.segment.augment import (
    RandomAugment,
    affine_warp,
    drop_channels,
    flip,
    gamma,
    intensity,
)


def _xy(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(rng.normal(size=(4, 12, 12, 12)).astype(np.float32))
    y = torch.from_numpy((rng.random((3, 12, 12, 12)) > 0.5).astype(np.float32))
    return x, y


def test_flip_is_an_involution(rng: np.random.Generator) -> None:
    x, _ = _xy(rng)
    assert torch.equal(flip(flip(x, (0, 2)), (0, 2)), x)
    assert torch.equal(flip(x, (1,))[:, :, 0], x[:, :, -1])


def test_affine_identity_and_quarter_turn(rng: np.random.Generator) -> None:
    x, y = _xy(rng)
    xi, yi = affine_warp(x, y, (0.0, 0.0, 0.0), 1.0)
    assert torch.allclose(xi, x, atol=1e-5) and torch.allclose(yi, y, atol=1e-5)
    xr, _ = affine_warp(x, y, (0.0, 0.0, float(np.pi / 2)), 1.0)
    # A 90° rotation of a cube's grid maps voxels onto voxels: same values, rearranged.
    assert torch.allclose(
        torch.sort(xr.flatten()).values, torch.sort(x.flatten()).values, atol=1e-4
    )


def test_intensity_and_gamma_keep_background(rng: np.random.Generator) -> None:
    x, _ = _xy(rng)
    x[:, :3] = 0
    out = intensity(x, torch.full((4,), 2.0), torch.full((4,), 1.0))
    assert torch.all(out[:, :3] == 0)
    assert torch.allclose(out[:, 3:], 2 * x[:, 3:] + 1)
    g = gamma(x, torch.ones(4))
    assert torch.allclose(g, x, atol=1e-5)
    g2 = gamma(x, torch.full((4,), 2.0))
    assert torch.all(g2[:, :3] == 0)
    for c in range(4):  # range of each channel preserved
        inside = x[c] != 0
        assert torch.isclose(g2[c][inside].min(), x[c][inside].min(), atol=1e-5)


def test_drop_channels() -> None:
    x = torch.ones(4, 2, 2, 2)
    out = drop_channels(x, (False, True, False, True))
    assert out[:, 0, 0, 0].tolist() == [0, 1, 0, 1]


def test_random_augment_is_seeded_and_never_drops_everything(rng: np.random.Generator) -> None:
    x, y = _xy(rng)
    a1 = RandomAugment(np.random.default_rng(5))
    a2 = RandomAugment(np.random.default_rng(5))
    for _ in range(3):
        o1, o2 = a1(x, y), a2(x, y)
        assert torch.equal(o1[0], o2[0]) and torch.equal(o1[1], o2[1])
    aug = RandomAugment(np.random.default_rng(0), p_dropout=1.0)
    kept = [aug.channels_kept() for _ in range(200)]
    assert all(any(k) for k in kept)
    assert any(not all(k) for k in kept)
