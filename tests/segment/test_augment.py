"""Augmentation: deterministic transforms and the seeded random wrapper."""

from __future__ import annotations

import numpy as np
import torch

from braintwin.segment.augment import (
    AUGMENTATIONS,
    RandomAugment,
    affine_warp,
    bias_field,
    contrast,
    drop_channels,
    flip,
    gamma,
    intensity,
    simulate_thick_slices,
    smooth_noise,
    thick_slices,
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
    # A specialist sees its own sequences on every draw; the others are zero.
    pair = (False, True, False, True)
    spec = RandomAugment(np.random.default_rng(0), p_dropout=1.0, fixed_channels=pair)
    assert {spec.channels_kept() for _ in range(50)} == {pair}
    ox, _ = spec(x, y)
    assert not ox[0].any() and not ox[2].any() and ox[1].any() and ox[3].any()


def test_thick_slices_known_answers() -> None:
    # Slices 1..6 averaged in pairs are 1.5, 3.5, 5.5; linear interpolation back to 6 slices
    # (sample centres at 0.25, 0.75, ... of a coarse slice) gives 1.5, 2, 3, 4, 5, 5.5.
    x = torch.arange(1.0, 7.0).view(1, 1, 1, 6)
    assert torch.allclose(thick_slices(x, 2, 2)[0, 0, 0], torch.tensor([1.5, 2, 3, 4, 5, 5.5]))
    assert torch.equal(thick_slices(x, 2, 1), x)
    # A slice-constant volume is unchanged along the other axes; a ramp stays a ramp inside.
    ramp = torch.arange(1.0, 13.0).view(1, 1, 1, 12).expand(2, 3, 4, 12).contiguous()
    out = thick_slices(ramp, 2, 3)
    assert torch.allclose(out[..., 3:9], ramp[..., 3:9], atol=1e-5)
    # Background stays background (the brain outline is kept).
    ramp[:, 0] = 0
    assert torch.all(thick_slices(ramp, 1, 2)[:, 0] == 0)


def test_simulate_thick_slices_on_a_1mm_volume() -> None:
    # A 1 mm plate one slice thick smeared over 5 mm slices keeps its total signal (mass).
    vol = np.ones((6, 6, 20), np.float32)
    vol[:, :, 10] = 11.0
    out = simulate_thick_slices(vol, 1.0, 5.0)
    assert out.shape == vol.shape and out.dtype == vol.dtype
    assert out[..., 10].max() < 11.0 and out[..., 8].max() > 1.0
    assert np.isclose(out.sum(), vol.sum(), rtol=0.05)
    assert simulate_thick_slices(vol, 1.0, 1.2) is vol  # thinner than 1.5 voxels: untouched


def test_contrast_and_bias_field_keep_range_and_background(rng: np.random.Generator) -> None:
    x, _ = _xy(rng)
    x[:, :3] = 0
    assert torch.allclose(contrast(x, torch.ones(4)), x, atol=1e-5)
    c = contrast(x, torch.full((4,), 1.5))
    for ch in range(4):
        inside = x[ch] != 0
        assert c[ch][inside].max() <= x[ch][inside].max() + 1e-6
        assert c[ch][inside].min() >= x[ch][inside].min() - 1e-6
    assert torch.all(c[:, :3] == 0)
    assert torch.allclose(bias_field(x, torch.zeros_like(x)), x, atol=1e-6)
    b = bias_field(x, torch.full_like(x, float(np.log(2.0))))
    for ch in range(4):  # a uniform field doubles the distance from the darkest voxel
        inside = x[ch] != 0
        lo = x[ch][inside].min()
        assert torch.allclose(b[ch][inside] - lo, 2 * (x[ch][inside] - lo), atol=1e-5)
    assert torch.all(b[:, :3] == 0)


def test_smooth_noise_interpolates_its_control_values() -> None:
    coarse = torch.zeros(1, 2, 2, 2)
    coarse[0, 1] = 1.0
    field = smooth_noise(coarse, (5, 3, 3))
    assert torch.allclose(field[0, :, 0, 0], torch.tensor([0, 0.25, 0.5, 0.75, 1.0]))


def test_elastic_zero_displacement_is_identity(rng: np.random.Generator) -> None:
    x, y = _xy(rng)
    xi, yi = affine_warp(x, y, (0.0, 0.0, 0.0), 1.0, torch.zeros(12, 12, 12, 3))
    assert torch.allclose(xi, x, atol=1e-5) and torch.allclose(yi, y, atol=1e-5)


def test_standard_preset_keeps_the_random_stream(rng: np.random.Generator) -> None:
    """The new transforms draw nothing at probability 0: old recipes reproduce exactly."""
    x, y = _xy(rng)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    RandomAugment(a)(x, y)
    RandomAugment(b, **AUGMENTATIONS["standard"])(x, y)
    assert a.random() == b.random()
    strong = RandomAugment(np.random.default_rng(3), **AUGMENTATIONS["strong"])
    for _ in range(20):
        ox, oy = strong(x, y)
        assert ox.shape == x.shape and oy.shape == y.shape
        assert torch.isfinite(ox).all() and float(oy.min()) >= -1e-6
