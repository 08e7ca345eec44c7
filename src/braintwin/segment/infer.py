"""Network inference: sliding windows at ~2 mm, flip test-time augmentation, upsampling.

Windows are the training patch size (48³ network voxels, 96 mm) with Gaussian blending (MONAI
``sliding_window_inference``). With ``n_flips`` > 1 the input is also mirrored along axis
combinations and the sigmoid probabilities averaged (test-time augmentation, Wang et al. 2019,
Neurocomputing 338); their spread gives the uncertainty map. Probabilities are upsampled to the
input grid with trilinear interpolation, so labels come back at full resolution.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from braintwin.segment.data import Prepared, extract, paste

__all__ = ["FLIP_SETS", "PATCH", "SHIPPED_FLIPS", "predict_lowres", "predict_regions", "upsample"]

#: Training patch / inference window size in network voxels.
PATCH: tuple[int, int, int] = (48, 48, 48)
#: Flips the shipped path averages (mirrored TTA; chosen by cross-validation, see the README).
SHIPPED_FLIPS = 4
#: Flip combinations in the order they are used (identity first).
FLIP_SETS: tuple[tuple[int, ...], ...] = tuple(
    sorted(
        (c for r in range(4) for c in itertools.combinations(range(3), r)),
        key=len,
    )
)


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    from monai.inferers import sliding_window_inference

    roi = tuple(min(p, s) for p, s in zip(PATCH, x.shape[2:], strict=True))
    out = sliding_window_inference(
        x, roi, sw_batch_size=2, predictor=model, overlap=0.25, mode="gaussian"
    )
    return out if isinstance(out, torch.Tensor) else torch.as_tensor(out)


@torch.no_grad()
def predict_lowres(
    prepared: Prepared, model: torch.nn.Module, n_flips: int = 1
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean sigmoid probabilities (1, 3, x, y, z) on the network grid, and the WT variance.

    The variance across flips is None when ``n_flips`` == 1.
    """
    x = torch.from_numpy(prepared.x).unsqueeze(0)
    total = torch.zeros((1, 3, *x.shape[2:]))
    wt_sq = torch.zeros((1, 1, *x.shape[2:]))
    flips = FLIP_SETS[: max(1, min(n_flips, len(FLIP_SETS)))]
    for axes in flips:
        dims = [a + 2 for a in axes]
        xi = torch.flip(x, dims) if dims else x
        p = torch.sigmoid(_forward(model, xi))
        p = torch.flip(p, dims) if dims else p
        total += p
        wt_sq += p[:, :1] ** 2
    mean = total / len(flips)
    var = (wt_sq / len(flips) - mean[:, :1] ** 2).clamp_min(0) if len(flips) > 1 else None
    return mean, var


def upsample(lowres: torch.Tensor, prepared: Prepared, brain: np.ndarray) -> np.ndarray:
    """Network-grid maps (1, C, x, y, z) -> (C, X, Y, Z) float32 on the input grid.

    Trilinear interpolation, zero outside the brain.
    """
    up = torch.nn.functional.interpolate(
        lowres.float(), scale_factor=prepared.factors, mode="trilinear", align_corners=False
    )[0].numpy()
    up *= extract(brain, prepared.box)[None]
    return paste(up.astype(np.float32), prepared.box, prepared.shape)


def predict_regions(
    prepared: Prepared,
    model: torch.nn.Module,
    brain: np.ndarray,
    n_flips: int = 1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Region probabilities (3, X, Y, Z) float32 on the input grid, and WT variance map.

    Args:
        prepared: output of :func:`braintwin.segment.data.prepare_input`.
        model: network in eval mode.
        brain: (X, Y, Z) bool brain mask; probabilities outside it are 0.
        n_flips: 1 (no TTA) to 8 flip combinations.

    Returns:
        (probabilities, variance of the WT probability across flips or None if n_flips == 1).
    """
    mean, var = predict_lowres(prepared, model, n_flips)
    full = upsample(mean if var is None else torch.cat([mean, var], 1), prepared, brain)
    return full[:3], (full[3] if var is not None else None)
