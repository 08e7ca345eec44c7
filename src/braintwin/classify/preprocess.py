"""Source-independent slice preparation: crop to the head, square-pad, resize, robust contrast.

Every image the classifier sees, in training and in use, passes through :func:`prepare_slice`, so
a 224x224 JPEG, a 512x512 16-bit DICOM and a slice of a 1 mm NIfTI volume all arrive as the same
kind of input: the non-background bounding box, padded to a square (aspect ratio kept), resized
to ``size`` x ``size`` pixels, with intensities mapped by robust percentiles to 0..255.
"""

from __future__ import annotations

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Volume

__all__ = [
    "DEFAULT_SIZE",
    "axial_slice_ras",
    "foreground_bbox",
    "is_blank",
    "prepare_slice",
    "ras_data",
]

DEFAULT_SIZE = 128  # pixels; the network input side

# Background threshold as a fraction of the robust intensity range: dark air in MRI is a few
# percent of tissue brightness, and JPEG ringing stays below ~5 %.
_BG_FRACTION = 0.08
_MARGIN = 0.02  # fraction of the head's size kept around its bounding box
# An image counts as blank when fewer than this fraction of its pixels (and fewer than
# _MIN_PIXELS) differ from its median: a handful of hot pixels does not make an image.
_BLANK_FRACTION = 0.002
_MIN_PIXELS = 16


def is_blank(img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """True when ``img`` (inside ``mask`` when given) is one constant value up to a few outliers.

    The spread is measured against the median: an image is blank when fewer than 16 pixels, or
    fewer than 0.2 % of its (masked) pixels, differ from the median by more than a relative 1e-6.
    A dark but structured image, a slice with a small head, or a z-scored slice whose
    background is 0 are not blank.
    """
    vals = np.asarray(img, dtype=np.float64)
    if mask is not None:
        vals = vals[np.asarray(mask, dtype=bool)]
    vals = vals[np.isfinite(vals)].ravel()
    if vals.size == 0:
        return True
    med = float(np.median(vals))
    tol = 1e-6 * max(1.0, abs(med), float(np.percentile(np.abs(vals), 99)))
    differing = int(np.count_nonzero(np.abs(vals - med) > tol))
    return differing < max(_MIN_PIXELS, _BLANK_FRACTION * vals.size)


def foreground_bbox(img: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1), half-open, of the non-background region of a 2D image.

    A row/column counts as foreground when at least 0.5 % of its pixels (and >= 2) exceed
    the background threshold, which ignores isolated noise pixels and thin burnt-in text.
    Falls back to the whole image when nothing stands out.
    """
    lo = float(np.percentile(img, 1.0))
    hi = float(np.percentile(img, 99.0))
    if hi <= lo:
        return 0, img.shape[0], 0, img.shape[1]
    mask = img > lo + _BG_FRACTION * (hi - lo)
    rows = np.flatnonzero(mask.sum(axis=1) >= max(2, 0.005 * img.shape[1]))
    cols = np.flatnonzero(mask.sum(axis=0) >= max(2, 0.005 * img.shape[0]))
    if rows.size == 0 or cols.size == 0:
        return 0, img.shape[0], 0, img.shape[1]
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    m = round(_MARGIN * max(r1 - r0, c1 - c0))  # relative to the head, not the canvas
    return max(0, r0 - m), min(img.shape[0], r1 + m), max(0, c0 - m), min(img.shape[1], c1 + m)


def prepare_slice(img: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """Prepare one 2D grey image for the classifier.

    Args:
        img: (rows, cols) raw intensities, any range or dtype (see ``image_io.to_grey``).
        size: output side in pixels.

    Returns:
        (size, size) uint8: the head cropped, square-padded, resized (antialiased bilinear),
        with the 0.5th percentile of the crop mapped to 0 and the 99.5th percentile of its
        foreground to 255 (clipped), so contrast does not depend on scanner or file format.

    Raises:
        InputError: for a non-2D, non-finite or contrast-free (blank) image.
    """
    from PIL import Image

    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim != 2:
        raise InputError(f"expected a 2D slice, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError("slice contains NaN/Inf pixels", "fix or re-export the image")
    if is_blank(arr):
        raise InputError(
            "image is blank (one intensity apart from at most a few outlier pixels)",
            "give an MRI slice with visible anatomy",
        )
    r0, r1, c0, c1 = foreground_bbox(arr)
    crop = arr[r0:r1, c0:c1]
    lo = float(np.percentile(crop, 0.5))
    p99 = float(np.percentile(crop, 99.0))
    fg = crop[crop > lo + _BG_FRACTION * (p99 - lo)]
    hi = float(np.percentile(fg, 99.5)) if fg.size >= 16 else float(crop.max())
    if hi <= lo:
        hi = float(crop.max())
    h, w = crop.shape
    side = max(h, w)
    square = np.full((side, side), lo, dtype=np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = crop
    resized = np.asarray(
        Image.fromarray(square, mode="F").resize((size, size), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    scaled = np.clip((resized - lo) / (hi - lo), 0.0, 1.0)
    return np.rint(scaled * 255.0).astype(np.uint8)


def axial_slice_ras(volume: Volume, k: int) -> np.ndarray:
    """Axial slice ``k`` (along the superior axis) in radiological display orientation.

    The volume is reoriented to RAS via its affine first; the slice is returned with anterior
    at the top and the patient's right on the image's left, the layout of the training JPEGs.
    Shape: (n_anterior_posterior, n_right_left). ``k`` indexes the RAS superior axis.
    """
    data = ras_data(volume)
    if not 0 <= k < data.shape[2]:
        raise InputError(f"slice index {k} outside 0..{data.shape[2] - 1}")
    return np.ascontiguousarray(data[::-1, ::-1, k].T).astype(np.float32)


def ras_data(volume: Volume) -> np.ndarray:
    """Volume data permuted/flipped so voxel axes increase towards R, A, S."""
    from braintwin.types import axcodes_from_affine

    codes = axcodes_from_affine(volume.affine)
    target = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}
    order = [0, 0, 0]
    flips = []
    for vox_axis, code in enumerate(codes):
        order[target[code]] = vox_axis
        if code in "LPI":
            flips.append(target[code])
    data = np.transpose(np.asarray(volume.data), order)
    for axis in flips:
        data = np.flip(data, axis=axis)
    return data
