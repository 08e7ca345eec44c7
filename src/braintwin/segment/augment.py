"""Training augmentation: deterministic transforms plus one seeded random wrapper.

Each transform is a pure function of its parameters (testable); :class:`RandomAugment` draws
the parameters from an explicit ``numpy.random.Generator`` (TorchIO style). Inputs are torch
tensors: images ``x`` (C, X, Y, Z) z-scored, targets ``y`` (3, X, Y, Z) soft region fractions.
Ranges follow common BraTS practice (Isensee et al. 2021, nnU-Net): rotations ±15°, scaling
0.85–1.15, intensity scale ±10 % and shift ±0.1 SD, gamma 0.7–1.5, Gaussian noise σ ≤ 0.1.
Modality dropout (zero-filling a random non-empty subset of channels, as at inference when a
sequence is missing) follows Havaei et al. 2016 (HeMIS) and the "missing modality" BraTS work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from braintwin.segment.data import CHANNELS
from braintwin.types.volume import Modality

__all__ = [
    "RandomAugment",
    "affine_warp",
    "drop_channels",
    "flip",
    "gamma",
    "intensity",
]


def flip(t: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """Mirror spatial ``axes`` (0, 1, 2) of a (C, X, Y, Z) tensor."""
    return torch.flip(t, dims=[a + 1 for a in axes]) if axes else t


def _rotation(angles: tuple[float, float, float]) -> torch.Tensor:
    a, b, c = angles
    rx = torch.tensor([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = torch.tensor([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = torch.tensor([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return (rz @ ry @ rx).float()


def affine_warp(
    x: torch.Tensor, y: torch.Tensor, angles: tuple[float, float, float], scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate (radians about the patch centre) and scale (>1 zooms in) both tensors, trilinear.

    Outside the patch is zero (background) for images and targets alike.
    """
    theta = torch.zeros(1, 3, 4)
    theta[0, :, :3] = _rotation(angles) / scale
    both = torch.cat([x, y]).unsqueeze(0)
    grid = torch.nn.functional.affine_grid(theta, list(both.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(
        both, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0]
    return out[: x.shape[0]], out[x.shape[0] :]


def intensity(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Per-channel ``x * scale + shift`` inside the brain (non-zero voxels); background stays 0."""
    inside = x != 0
    return torch.where(inside, x * scale.view(-1, 1, 1, 1) + shift.view(-1, 1, 1, 1), x)


def gamma(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per-channel gamma on the channel's own [min, max] range (range and background kept)."""
    out = x.clone()
    for c in range(x.shape[0]):
        inside = x[c] != 0
        if not torch.any(inside):
            continue
        v = x[c][inside]
        lo, hi = v.min(), v.max()
        if hi - lo < 1e-6:
            continue
        out[c][inside] = ((v - lo) / (hi - lo)) ** g[c] * (hi - lo) + lo
    return out


def drop_channels(x: torch.Tensor, keep: tuple[bool, ...]) -> torch.Tensor:
    """Zero-fill the channels with ``keep`` False (a missing sequence)."""
    mask = torch.tensor(keep, dtype=x.dtype).view(-1, 1, 1, 1)
    return x * mask


#: Clinically common subsets drawn more often than uniform dropout would (FLAIR + T1ce first).
_COMMON_SUBSETS: tuple[tuple[Modality, ...], ...] = (
    (Modality.T1CE, Modality.FLAIR),
    (Modality.T1, Modality.T1CE, Modality.FLAIR),
    (Modality.T1CE, Modality.T2, Modality.FLAIR),
)


@dataclass
class RandomAugment:
    """Draws and applies the transforms above with probabilities ``p_*``."""

    rng: np.random.Generator
    p_flip: float = 0.5
    p_affine: float = 0.3
    p_intensity: float = 0.5
    p_gamma: float = 0.3
    p_noise: float = 0.2
    p_dropout: float = 0.4

    def channels_kept(self) -> tuple[bool, ...]:
        """A random non-empty channel subset (all channels when no dropout is drawn)."""
        n = len(CHANNELS)
        if self.rng.random() >= self.p_dropout:
            return (True,) * n
        if self.rng.random() < 0.5:
            subset = _COMMON_SUBSETS[int(self.rng.integers(len(_COMMON_SUBSETS)))]
            return tuple(m in subset for m in CHANNELS)
        keep = self.rng.random(n) < 0.5
        if not keep.any():
            keep[int(self.rng.integers(n))] = True
        return tuple(bool(k) for k in keep)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.rng
        axes = tuple(a for a in range(3) if r.random() < self.p_flip)
        x, y = flip(x, axes), flip(y, axes)
        if r.random() < self.p_affine:
            angles = tuple(float(a) for a in r.uniform(-math.pi / 12, math.pi / 12, 3))
            x, y = affine_warp(x, y, angles, float(r.uniform(0.85, 1.15)))  # type: ignore[arg-type]
        c = x.shape[0]
        if r.random() < self.p_intensity:
            scale = torch.from_numpy(r.uniform(0.9, 1.1, c)).float()
            shift = torch.from_numpy(r.uniform(-0.1, 0.1, c)).float()
            x = intensity(x, scale, shift)
        if r.random() < self.p_gamma:
            x = gamma(x, torch.from_numpy(r.uniform(0.7, 1.5, c)).float())
        if r.random() < self.p_noise:
            sigma = float(r.uniform(0.0, 0.1))
            noise = torch.from_numpy(r.standard_normal(x.shape).astype(np.float32)) * sigma
            x = torch.where(x != 0, x + noise, x)
        x = drop_channels(x, self.channels_kept())
        return x, y
