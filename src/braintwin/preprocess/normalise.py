"""Intensity normalisation: robust z-score inside the brain."""

from __future__ import annotations

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Volume

__all__ = ["zscore"]


def zscore(
    vol: Volume, mask: Volume, *, clip_percentiles: tuple[float, float] = (0.5, 99.5)
) -> Volume:
    """Z-score intensities inside ``mask``: (v - mean) / std, 0 outside.

    Intensities are first clipped to the given percentiles of the in-mask values, so a few
    extreme voxels (e.g. int16-maximum artefacts) cannot dominate the mean and standard
    deviation; the output is clipped the same way, hence bounded.

    Args:
        vol: image, shape (nx, ny, nz).
        mask: brain mask on the same grid (non-zero = brain).
        clip_percentiles: (low, high) percentiles in 0..100.

    Returns:
        float32 volume on the same grid: mean 0, std 1 inside the mask (before the clip
        bounds apply), exactly 0 outside.
    """
    if not mask.same_grid(vol):
        raise InputError("the z-score mask must be on the image's grid", "resample it first")
    lo_p, hi_p = clip_percentiles
    if not 0.0 <= lo_p < hi_p <= 100.0:
        raise InputError(
            f"invalid clip percentiles {clip_percentiles!r}", "use 0 <= low < high <= 100"
        )
    inside = mask.data > 0
    if not np.any(inside):
        raise InputError(
            "the brain mask is empty: no brain to normalise",
            "check the mask / skull-stripping step",
        )
    values = vol.data[inside].astype(np.float64)
    lo, hi = np.percentile(values, [lo_p, hi_p])
    clipped = np.clip(values, lo, hi)
    mean = float(clipped.mean())
    std = float(clipped.std())
    if not std > 1e-12 * max(1.0, abs(mean)):
        raise InputError(
            f"the {vol.modality.value} image is constant inside the brain; cannot normalise",
            "check that the right file was given for this modality",
        )
    out = np.zeros(vol.shape, dtype=np.float32)
    out[inside] = ((clipped - mean) / std).astype(np.float32)
    return vol.with_data(out, zscore={"mean": mean, "std": std, "clip": [float(lo), float(hi)]})
