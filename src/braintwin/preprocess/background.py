"""Constant non-zero backgrounds: recognise them and put the image back on a zero background.

Skull-stripped data is recognised by its exact-zero background (:mod:`.mask`). Exports that
were already intensity-normalised (e.g. z-scored inside the brain by another tool) keep a
constant background, but at a non-zero value (the z-score of 0, e.g. -0.6). Taken at face
value such an image has no zero background, so it looks like a raw scan, the whole grid is
taken for "brain", and the normalisation statistics are those of the background.

The background is recognised as the value that fills a large part of the grid's border and
whose border-connected region (exactly that value) covers a sizeable part of the grid:
acquisition noise of a raw scan never repeats one exact value over such a region. The
image is then shifted so its foreground is positive (N4 works on log intensities) and the
background region set to exactly zero, which is what skull-stripped input looks like. An
intensity shift is harmless downstream: N4 is fitted inside the brain and every image is
z-scored again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from braintwin.types import Volume

__all__ = [
    "Background",
    "background_region",
    "border_faces",
    "detect_background",
    "zero_background",
]

#: Fraction of the border voxels that must hold the candidate value.
MIN_BORDER_FRACTION = 0.3
#: Fraction of the grid the border-connected constant region must cover.
MIN_GRID_FRACTION = 0.05


@dataclass(frozen=True)
class Background:
    """A recognised constant background.

    Attributes:
        value: the background intensity (exactly this value in the region).
        fraction: fraction of the grid it covers.
    """

    value: float
    fraction: float


def border_faces(data: np.ndarray) -> list[np.ndarray]:
    """The six faces of a 3D array (views; basic slicing, ~50x faster than ``np.take``)."""
    return [data[0], data[-1], data[:, 0], data[:, -1], data[:, :, 0], data[:, :, -1]]


def _border_values(data: np.ndarray) -> np.ndarray:
    return np.concatenate([f.ravel() for f in border_faces(data)])


def background_region(data: np.ndarray, value: float) -> np.ndarray:
    """Voxels equal to ``value`` that are connected (6-neighbourhood) to the grid's border."""
    equal = data == value
    labels, n = ndi.label(equal)
    if n == 0:
        return equal
    border = np.unique(_border_values(labels))
    touching = np.zeros(n + 1, dtype=bool)
    touching[border] = True
    touching[0] = False
    return touching[labels]


def detect_background(data: np.ndarray) -> tuple[Background, np.ndarray] | None:
    """The constant background of ``data`` and its region, or None when there is none.

    The candidate is the most frequent value on the grid's border; it counts as background
    when it fills at least :data:`MIN_BORDER_FRACTION` of the border and its
    border-connected region at least :data:`MIN_GRID_FRACTION` of the grid.
    """
    value = _candidate(data)
    if value is None:
        return None
    return _confirm(data, value)


def _candidate(data: np.ndarray) -> float | None:
    """The most frequent border value, if it fills enough of the border."""
    border = _border_values(data)
    values, counts = np.unique(border, return_counts=True)
    best = int(np.argmax(counts))
    if counts[best] < MIN_BORDER_FRACTION * border.size:
        return None
    return float(values[best])


def _confirm(data: np.ndarray, value: float) -> tuple[Background, np.ndarray] | None:
    region = background_region(data, value)
    fraction = float(region.mean())
    if fraction < MIN_GRID_FRACTION:
        return None
    return Background(float(value), fraction), region


def zero_background(vol: Volume) -> tuple[Volume, Background | None]:
    """``vol`` with a constant non-zero background moved to exactly 0 (foreground > 0).

    Returns ``vol`` itself and None when there is no constant background or it is already 0.
    Otherwise the foreground is shifted so its minimum becomes 1 % of its range above zero
    (float32), the background region is set to 0, and the returned volume's meta records
    ``background_value``.
    """
    value = _candidate(vol.data)
    if value is None or value == 0.0:  # zero (skull-stripped) or no constant background
        return vol, None
    found = _confirm(vol.data, value)
    if found is None:
        return vol, None
    bg, region = found
    fg = vol.data[~region].astype(np.float64)
    if fg.size == 0:
        return vol, None
    lo, hi = float(fg.min()), float(fg.max())
    offset = 0.01 * (hi - lo) if hi > lo else 1.0
    out = (vol.data.astype(np.float64) - lo + offset).astype(np.float32)
    out[region] = 0.0
    return vol.with_data(out, background_value=bg.value), bg
