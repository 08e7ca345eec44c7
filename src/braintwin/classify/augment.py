"""Training augmentation with torch ops: a deterministic core plus a seeded random wrapper.

:func:`apply_augmentation` is deterministic given its parameters (TorchIO style);
:func:`random_augmentation` draws those parameters from a ``torch.Generator``. All work is
batched: one ``affine_grid``/``grid_sample`` per batch for flips, rotations, scaling and
translation (the equivalent of random crops), then gamma, contrast/brightness and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "AugmentParams",
    "apply_augmentation",
    "random_augmentation",
    "random_skull_strip",
    "random_twin_view",
    "reframe",
    "strip_rim",
]


@dataclass(frozen=True)
class AugmentParams:
    """Per-image parameters, each a (B,) tensor.

    flip: 1 to mirror left-right, else 0; angle_deg: in-plane rotation (degrees); scale: zoom
    (>1 enlarges the anatomy); shift_x/shift_y: translation as a fraction of the half-width;
    gamma: intensity exponent; contrast, brightness: x -> (x - mean) * contrast + mean +
    brightness; noise_sd: Gaussian noise SD on the [0, 1] scale.
    """

    flip: torch.Tensor
    angle_deg: torch.Tensor
    scale: torch.Tensor
    shift_x: torch.Tensor
    shift_y: torch.Tensor
    gamma: torch.Tensor
    contrast: torch.Tensor
    brightness: torch.Tensor
    noise_sd: torch.Tensor


def apply_augmentation(
    x: torch.Tensor, p: AugmentParams, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply ``p`` to a batch x (B, 1, H, W) in [0, 1]; returns a new batch in [0, 1].

    ``noise`` (B, 1, H, W) standard normal is scaled by ``p.noise_sd``; None means no noise.
    """
    b = x.shape[0]
    theta = torch.deg2rad(p.angle_deg)
    cos, sin = torch.cos(theta) / p.scale, torch.sin(theta) / p.scale
    sign = 1.0 - 2.0 * p.flip  # -1 mirrors the x axis of the sampling grid
    mat = torch.zeros(b, 2, 3, dtype=x.dtype)
    mat[:, 0, 0] = cos * sign
    mat[:, 0, 1] = -sin
    mat[:, 1, 0] = sin * sign
    mat[:, 1, 1] = cos
    mat[:, 0, 2] = p.shift_x
    mat[:, 1, 2] = p.shift_y
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = y.clamp(0.0, 1.0) ** p.gamma.view(b, 1, 1, 1)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * p.contrast.view(b, 1, 1, 1) + mean + p.brightness.view(b, 1, 1, 1)
    if noise is not None:
        y = y + noise * p.noise_sd.view(b, 1, 1, 1)
    return y.clamp(0.0, 1.0)


def random_augmentation(
    x: torch.Tensor, gen: torch.Generator, *, strength: float = 1.0
) -> torch.Tensor:
    """Randomly augment a batch (B, 1, H, W) in [0, 1] with generator ``gen`` (seeded).

    Ranges at strength 1: rotation ±15°, zoom 0.85-1.15, shift ±8 % of the side, left-right
    flip p=0.5, gamma exp(±0.35), contrast 0.8-1.2, brightness ±0.08, noise SD 0-0.03 on 30 %.
    """
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    s = strength
    params = AugmentParams(
        flip=(torch.rand(b, generator=gen) < 0.5).to(x.dtype),
        angle_deg=u(-15 * s, 15 * s),
        scale=torch.exp(u(math.log(1 - 0.15 * s), math.log(1 + 0.15 * s))),
        shift_x=u(-0.16 * s, 0.16 * s),  # grid units: half-width = 1, so 0.16 = 8 % of side
        shift_y=u(-0.16 * s, 0.16 * s),
        gamma=torch.exp(u(-0.35 * s, 0.35 * s)),
        contrast=u(1 - 0.2 * s, 1 + 0.2 * s),
        brightness=u(-0.08 * s, 0.08 * s),
        noise_sd=u(0.0, 0.03 * s) * (torch.rand(b, generator=gen) < 0.3).to(x.dtype),
    )
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    return apply_augmentation(x, params, noise)


def _erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary erosion of (B, 1, H, W) {0, 1} masks to depth ``radius`` pixels.

    Alternating 3x3 square and cross steps approximate a disc (an octagon), so the rim
    follows the head's outline instead of squaring its corners.
    """
    out = 1.0 - mask
    for i in range(radius):
        if i % 2 == 0:
            out = F.max_pool2d(out, 3, stride=1, padding=1)
        else:
            out = torch.maximum(
                F.max_pool2d(out, (3, 1), stride=1, padding=(1, 0)),
                F.max_pool2d(out, (1, 3), stride=1, padding=(0, 1)),
            )
    return 1.0 - out


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    return 1.0 - _erode(1.0 - mask, radius)


def strip_rim(x: torch.Tensor, depth_px: int, *, threshold: float = 0.08) -> torch.Tensor:
    """Zero an outer rim ``depth_px`` deep of the head in a batch (B, 1, H, W) in [0, 1].

    Imitates skull stripping (BraTS-style volumes arrive without scalp and skull, the training
    slices with them): the head mask (above ``threshold``, closed with a large square so dark
    ventricles and sulci count as inside) is eroded by ``depth_px`` and everything outside it
    is set to 0. Scalp plus skull is about 5-8 % of the head's width on axial slices.
    """
    close = max(4, x.shape[-1] // 16)
    pad = close + depth_px  # the head touches the crop's border: background continues beyond it
    head = F.pad((x > threshold).to(x.dtype), (pad, pad, pad, pad))
    head = _erode(_erode(_dilate(head, close), close), depth_px)
    return x * head[..., pad:-pad, pad:-pad]


def reframe(x: torch.Tensor, *, threshold: float = 0.08, margin: float = 0.02) -> torch.Tensor:
    """Re-crop one image (1, 1, H, W) to its content, square-pad, resize back, re-stretch.

    What :func:`braintwin.classify.preprocess.prepare_slice` would have done to a skull-stripped
    slice: the brain fills the frame and its 99.5th percentile becomes white again.
    """
    img = x[0, 0]
    fg = img > threshold
    if int(fg.sum()) < 16:
        return x
    rows = torch.nonzero(fg.any(dim=1)).flatten()
    cols = torch.nonzero(fg.any(dim=0)).flatten()
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    m = round(margin * max(r1 - r0, c1 - c0))
    h, w = img.shape
    crop = img[max(0, r0 - m) : min(h, r1 + m), max(0, c0 - m) : min(w, c1 + m)]
    side = max(crop.shape)
    square = torch.zeros((side, side), dtype=x.dtype)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    out = F.interpolate(square[None, None], size=(h, w), mode="bilinear", align_corners=False)
    hi = torch.quantile(out[out > threshold], 0.995)
    return (out / hi.clamp_min(1e-3)).clamp(0.0, 1.0)


def random_skull_strip(
    x: torch.Tensor, gen: torch.Generator, *, p: float = 0.25, depth: tuple[int, int] = (5, 12)
) -> torch.Tensor:
    """For a random ``p`` of the batch: :func:`strip_rim` (depth drawn in ``depth`` pixels),
    then :func:`reframe`, imitating a skull-stripped volume's slice after preparation."""
    chosen = torch.nonzero(torch.rand(x.shape[0], generator=gen) < p).flatten()
    if chosen.numel() == 0:
        return x
    out = x.clone()
    for i in chosen.tolist():
        d = int(torch.randint(depth[0], depth[1] + 1, (1,), generator=gen))
        out[i : i + 1] = reframe(strip_rim(x[i : i + 1], d))
    return out


def random_twin_view(
    x: torch.Tensor, gen: torch.Generator, *, p: float = 0.5, depth: tuple[int, int] = (5, 12)
) -> torch.Tensor:
    """For a random ``p`` of the batch: the slice as the twin shows a visit to the classifier.

    A twin visit is skull-stripped and its brain quantile-matched to the training brains
    (:mod:`braintwin.classify.volume_slices`, :mod:`braintwin.classify.intensity`). Here:
    :func:`strip_rim` (depth drawn in ``depth`` pixels), :func:`reframe`, then the remaining
    brain pixels (> 0) quantile-matched to the same shipped reference, background 0.
    """
    import numpy as np

    from braintwin.classify.intensity import match_to_reference

    chosen = torch.nonzero(torch.rand(x.shape[0], generator=gen) < p).flatten()
    if chosen.numel() == 0:
        return x
    out = x.clone()
    for i in chosen.tolist():
        d = int(torch.randint(depth[0], depth[1] + 1, (1,), generator=gen))
        y = reframe(strip_rim(x[i : i + 1], d))[0, 0].numpy()
        brain = y > 0.0
        if int(brain.sum()) >= 256:
            y = match_to_reference(y, brain)
        out[i, 0] = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    return out
