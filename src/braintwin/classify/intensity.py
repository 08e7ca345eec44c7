"""Map a twin volume's brain intensities to the training slices' brain intensity distribution.

The training JPEGs were windowed by their exporting software with the scalp fat in view: after
:func:`~braintwin.classify.preprocess.prepare_slice` and the skull-strip imitation
(:func:`~braintwin.classify.augment.strip_rim` + :func:`~braintwin.classify.augment.reframe`),
grey and white matter sit around mid-grey and only enhancing tissue and fat are near white. A
twin volume is N4-corrected and z-scored inside the brain; any linear window of it puts
ordinary brain near white (measured: the classifier then read BraTS gliomas as "notumor").

Quantile matching removes that shift without tuning to any case: the reference is the average
quantile function (the 1D Wasserstein barycentre) of the brain pixels of the skull-strip
imitated training slices (:func:`reference_quantiles`, shipped in
``braintwin/data/classify/intensity_reference.json``), and a volume's brain voxels are mapped
piecewise-linearly from their own quantiles onto it (:func:`match_to_reference`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from braintwin.errors import ConfigurationError, InputError
from braintwin.packaged import data_path

__all__ = [
    "LEVELS",
    "REFERENCE_FILE",
    "load_reference",
    "match_to_reference",
    "reference_quantiles",
    "write_reference",
]

LEVELS = np.linspace(0.0, 100.0, 101)  # percentiles of the reference and the matched volume
REFERENCE_FILE = "intensity_reference.json"
_STRIP_DEPTH_PX = 8  # middle of the training imitation's 5..12 pixel rim (of 128)


def reference_quantiles(
    images: np.ndarray,
    *,
    depth_px: int = _STRIP_DEPTH_PX,
    progress: Callable[[str, float], None] | None = None,
) -> np.ndarray:
    """Average quantile function (at :data:`LEVELS`, 0..1) of stripped training brains.

    Args:
        images: (n, size, size) uint8 prepared training slices.
        depth_px: rim cut away, as in the skull-strip imitation.
    """
    import torch
    import torch.nn.functional as F

    from braintwin.classify.augment import _dilate, _erode, reframe, strip_rim

    acc = np.zeros(LEVELS.size)
    used = 0
    close = max(4, images.shape[-1] // 16)
    for start in range(0, len(images), 256):  # batched: the erosions are the slow part
        x = torch.from_numpy(images[start : start + 256].astype(np.float32) / 255.0)[:, None]
        stripped = strip_rim(x, depth_px)
        y = torch.cat([reframe(stripped[i : i + 1]) for i in range(len(stripped))])
        # The brain region as strip_rim defines the head: bright pixels, closed so dark
        # ventricles and sulci count as inside (the twin's brain mask includes them too).
        head = F.pad((y > 0.08).float(), (close, close, close, close))
        inside = _erode(_dilate(head, close), close)[..., close:-close, close:-close] > 0
        for img, msk in zip(y[:, 0].numpy(), inside[:, 0].numpy(), strict=True):
            vals = img[msk]
            if vals.size >= 256:
                acc += np.percentile(vals, LEVELS)
                used += 1
        if progress is not None:
            progress("reference quantiles", min(1.0, (start + 256) / len(images)))
    if used == 0:
        raise InputError("no usable training slice for the intensity reference")
    return acc / used


def write_reference(path: str | Path, quantiles: np.ndarray, provenance: str) -> Path:
    """Write a reference file (levels, quantiles, provenance) as JSON."""
    path = Path(path)
    path.write_text(
        json.dumps(
            {
                "levels_percent": LEVELS.tolist(),
                "quantiles": [round(float(q), 6) for q in quantiles],
                "provenance": provenance,
            },
            indent=1,
        )
        + "\n"
    )
    return path


@lru_cache(maxsize=1)
def load_reference() -> np.ndarray:
    """The shipped reference quantiles (at :data:`LEVELS`, increasing, 0..1)."""
    try:
        text = data_path("classify", REFERENCE_FILE).read_text()
        q = np.asarray(json.loads(text)["quantiles"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as err:
        raise ConfigurationError(
            f"the classifier's intensity reference is missing or unreadable ({err})",
            "reinstall braintwin (braintwin/data/classify/intensity_reference.json)",
        ) from err
    if q.shape != LEVELS.shape or np.any(np.diff(q) < 0):
        raise ConfigurationError("the classifier's intensity reference is malformed")
    return q


def match_to_reference(
    data: np.ndarray, mask: np.ndarray, reference: np.ndarray | None = None
) -> np.ndarray:
    """``data`` with the voxels inside ``mask`` quantile-matched to ``reference``, 0 outside.

    The volume's quantiles are taken over ``mask`` at :data:`LEVELS`; equal quantiles (ties,
    e.g. clipped values) are handled by keeping the mapping monotone.
    """
    ref = load_reference() if reference is None else np.asarray(reference, dtype=np.float64)
    vals = np.asarray(data, dtype=np.float64)[mask]
    if vals.size == 0:
        raise InputError("the brain mask is empty", "check the visit's brain mask")
    src = np.maximum.accumulate(np.percentile(vals, LEVELS))
    # np.interp needs strictly increasing x for a well-defined map: nudge ties apart.
    src = src + np.arange(src.size) * 1e-9 * max(1.0, float(np.abs(src).max()))
    out = np.zeros(np.shape(data), dtype=np.float32)
    out[mask] = np.interp(vals, src, ref).astype(np.float32)
    return out
