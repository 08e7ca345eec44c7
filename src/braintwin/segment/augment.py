"""Training augmentation: deterministic transforms plus one seeded random wrapper.

Each transform is a pure function of its parameters (testable); :class:`RandomAugment` draws
the parameters from an explicit ``numpy.random.Generator`` (TorchIO style). Inputs are torch
tensors: images ``x`` (C, X, Y, Z) z-scored, targets ``y`` (3, X, Y, Z) soft region fractions.
Ranges follow common BraTS practice (Isensee et al. 2021, nnU-Net): rotations ±15°, scaling
0.85–1.15, intensity scale ±10 % and shift ±0.1 SD, gamma 0.7–1.5, Gaussian noise σ ≤ 0.1.
Modality dropout (zero-filling a random non-empty subset of channels, as at inference when a
sequence is missing) follows Havaei et al. 2016 (HeMIS) and the "missing modality" BraTS work.

The "strong" preset (issue 11) adds what clinical scans do to BraTS-like training data:
elastic deformation (a smooth random displacement on top of the affine warp), contrast
(nnU-Net's multiplicative contrast about the mean, range kept), a smooth multiplicative bias
field (the MR coil/receive inhomogeneity; N4 removes most, not all, of it) and thick slices
(slices averaged along one axis and interpolated back, as a 4-6 mm clinical FLAIR/T2 looks
once resampled to the reference grid). Each new transform draws nothing while its probability
is 0, so the "standard" preset reproduces the recipe's random stream exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from braintwin.segment.data import CHANNELS
from braintwin.types.volume import Modality

__all__ = [
    "AUGMENTATIONS",
    "RandomAugment",
    "affine_warp",
    "bias_field",
    "contrast",
    "drop_channels",
    "flip",
    "gamma",
    "intensity",
    "simulate_thick_slices",
    "smooth_noise",
    "thick_slices",
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
    x: torch.Tensor,
    y: torch.Tensor,
    angles: tuple[float, float, float],
    scale: float,
    displacement: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate (radians about the patch centre) and scale (>1 zooms in) both tensors, trilinear.

    ``displacement`` (X, Y, Z, 3), in grid_sample's normalised [-1, 1] units, is added to the
    sampling grid: an elastic deformation (see :func:`smooth_noise`). Outside the patch is zero
    (background) for images and targets alike.
    """
    theta = torch.zeros(1, 3, 4)
    theta[0, :, :3] = _rotation(angles) / scale
    both = torch.cat([x, y]).unsqueeze(0)
    grid = torch.nn.functional.affine_grid(theta, list(both.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement.unsqueeze(0)
    out = torch.nn.functional.grid_sample(
        both, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0]
    return out[: x.shape[0]], out[x.shape[0] :]


def intensity(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Per-channel ``x * scale + shift`` inside the brain (non-zero voxels); background stays 0."""
    inside = x != 0
    return torch.where(inside, x * scale.view(-1, 1, 1, 1) + shift.view(-1, 1, 1, 1), x)


def _per_channel_inside(
    x: torch.Tensor, fn: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``fn(channel, values, inside)`` applied to each channel's brain (non-zero) voxels."""
    out = x.clone()
    for c in range(x.shape[0]):
        inside = x[c] != 0
        if torch.any(inside):
            out[c][inside] = fn(c, x[c][inside], inside)
    return out


def gamma(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per-channel gamma on the channel's own [min, max] range (range and background kept)."""

    def one(c: int, v: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        lo, hi = v.min(), v.max()
        if hi - lo < 1e-6:
            return v
        return ((v - lo) / (hi - lo)) ** g[c] * (hi - lo) + lo

    return _per_channel_inside(x, one)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Per-channel contrast about the in-brain mean, clipped to the channel's own range.

    nnU-Net's contrast augmentation (Isensee et al. 2021): ``(x - mean) * factor + mean``.
    """
    return _per_channel_inside(
        x, lambda c, v, _: ((v - v.mean()) * factor[c] + v.mean()).clamp(v.min(), v.max())
    )


def smooth_noise(coarse: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A smooth field on ``shape``: the (C, a, b, c) ``coarse`` values interpolated trilinearly.

    A few control values per axis give a field that varies over the whole patch only, the
    shape of a coil bias field or of an elastic deformation's displacement.
    """
    return torch.nn.functional.interpolate(
        coarse.unsqueeze(0), size=shape, mode="trilinear", align_corners=True
    )[0]


def bias_field(x: torch.Tensor, log_field: torch.Tensor) -> torch.Tensor:
    """Multiply each channel by ``exp(log_field)`` (C, X, Y, Z) above its darkest brain voxel.

    Inputs are z-scored, so the field scales intensities relative to the channel's minimum
    (a proxy for zero signal); background stays 0.
    """
    return _per_channel_inside(
        x, lambda c, v, inside: (v - v.min()) * torch.exp(log_field[c][inside]) + v.min()
    )


def thick_slices(x: torch.Tensor, axis: int, factor: int) -> torch.Tensor:
    """Average ``factor`` neighbouring slices along spatial ``axis`` and interpolate back.

    What a thick-slice acquisition looks like once resampled to a thin grid: detail across
    the slices is lost, in-plane detail kept. The brain outline (non-zero voxels) is kept.
    """
    if factor <= 1:
        return x
    inside = x != 0
    t = x.movedim(axis + 1, -1)
    n = t.shape[-1]
    pad = (-n) % factor
    if pad:
        t = torch.cat([t, t[..., -1:].expand(*t.shape[:-1], pad)], dim=-1)
    coarse = t.reshape(*t.shape[:-1], -1, factor).mean(-1)
    flat = coarse.reshape(-1, 1, coarse.shape[-1])
    fine = torch.nn.functional.interpolate(flat, size=n + pad, mode="linear", align_corners=False)[
        ..., :n
    ]
    out = fine.reshape(*t.shape[:-1], n).movedim(-1, axis + 1)
    return torch.where(inside, out, torch.zeros_like(out))


def simulate_thick_slices(
    data: np.ndarray, spacing_mm: float, thickness_mm: float, axis: int = 2
) -> np.ndarray:
    """A thin-slice volume as if acquired with ``thickness_mm`` slices along ``axis``.

    For evaluation: BraTS volumes are 1 mm, clinical FLAIR/T2/T1 are often 4-6 mm axial
    slices. ``round(thickness / spacing)`` slices are averaged and interpolated back, so the
    result stays on the input grid (as ingest resamples every series to the reference grid).
    """
    factor = round(thickness_mm / spacing_mm)
    if factor <= 1:
        return data
    t = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[None]
    return thick_slices(t, axis, factor)[0].numpy().astype(data.dtype, copy=False)


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
    p_elastic: float = 0.0
    p_contrast: float = 0.0
    p_bias: float = 0.0
    p_thick: float = 0.0
    #: A network for one sequence set (a specialist) sees exactly these channels, always.
    fixed_channels: tuple[bool, ...] | None = None

    def channels_kept(self) -> tuple[bool, ...]:
        """A random non-empty channel subset (all channels when no dropout is drawn)."""
        if self.fixed_channels is not None:
            return self.fixed_channels
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

    def _drawn(self, p: float) -> bool:
        """True with probability ``p``; draws nothing when ``p`` is 0 (stream kept)."""
        return p > 0 and self.rng.random() < p

    def _coarse(self, channels: int, sigma: float) -> torch.Tensor:
        return torch.from_numpy(self.rng.normal(0.0, sigma, (channels, 4, 4, 4))).float()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.rng
        axes = tuple(a for a in range(3) if r.random() < self.p_flip)
        x, y = flip(x, axes), flip(y, axes)
        angles, scale = (0.0, 0.0, 0.0), 1.0
        warp = r.random() < self.p_affine
        if warp:
            angles = tuple(float(a) for a in r.uniform(-math.pi / 12, math.pi / 12, 3))  # type: ignore[assignment]
            scale = float(r.uniform(0.85, 1.15))
        displacement = None
        if self._drawn(self.p_elastic):
            # Up to ~2 voxels of smooth displacement on a 48-voxel patch (1/24 of the half-width).
            size = tuple(x.shape[1:])
            displacement = smooth_noise(self._coarse(3, float(r.uniform(0.0, 0.04))), size)
            displacement = displacement.permute(1, 2, 3, 0).flip(-1)  # grid_sample wants (z, y, x)
        if warp or displacement is not None:
            x, y = affine_warp(x, y, angles, scale, displacement)
        c = x.shape[0]
        if r.random() < self.p_intensity:
            scale_i = torch.from_numpy(r.uniform(0.9, 1.1, c)).float()
            shift = torch.from_numpy(r.uniform(-0.1, 0.1, c)).float()
            x = intensity(x, scale_i, shift)
        if self._drawn(self.p_contrast):
            x = contrast(x, torch.from_numpy(r.uniform(0.75, 1.25, c)).float())
        if r.random() < self.p_gamma:
            x = gamma(x, torch.from_numpy(r.uniform(0.7, 1.5, c)).float())
        if self._drawn(self.p_bias):
            x = bias_field(
                x, smooth_noise(self._coarse(c, float(r.uniform(0.0, 0.3))), x.shape[1:])
            )
        if self._drawn(self.p_thick):
            # 2-3 network voxels (4-6 mm at 2 mm) on a random axis, for a random non-empty
            # subset of sequences (clinical protocols mix thick 2D and thin 3D series).
            axis, factor = int(r.integers(3)), int(r.integers(2, 4))
            which = r.random(c) < 0.5
            if not which.any():
                which[int(r.integers(c))] = True
            thick = thick_slices(x, axis, factor)
            sel = torch.from_numpy(which).view(-1, 1, 1, 1)
            x = torch.where(sel, thick, x)
        if r.random() < self.p_noise:
            sigma = float(r.uniform(0.0, 0.1))
            noise = torch.from_numpy(r.standard_normal(x.shape).astype(np.float32)) * sigma
            x = torch.where(x != 0, x + noise, x)
        x = drop_channels(x, self.channels_kept())
        return x, y


#: Named presets of :class:`RandomAugment` probabilities (recorded in the weights' config).
AUGMENTATIONS: dict[str, dict[str, float]] = {
    "standard": {},
    "strong": {
        "p_affine": 0.4,
        "p_elastic": 0.2,
        "p_contrast": 0.3,
        "p_bias": 0.3,
        "p_thick": 0.25,
    },
}
