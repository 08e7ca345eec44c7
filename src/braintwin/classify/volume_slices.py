"""Axial slices of a 3D visit, exported the way the training JPEGs were: the twin's view made 2D.

The classifier was trained on 2D JPEG slices: dark background, intensities stretched to 0..255
by the exporting software. A twin visit's volumes are skull-stripped and z-scored inside the
brain with 0 outside, i.e. the background sits at the brain's *mean* intensity (mid-grey), and a
T1-only or healthy visit has no tumour to choose slices by. This module

* chooses the axial slices: the largest tumour cross-sections when a segmentation has tumour,
  else the largest brain (mask) cross-sections, else the largest foreground cross-sections;
* exports each as a skull-stripped training JPEG would look: voxels outside the brain (or
  foreground) black; a twin volume's z-score undone (its recorded mean and SD), so the window
  runs from zero signal like a JPEG export's; a z-scored volume without that record has its
  brain quantile-matched to the training slices' brains (:mod:`braintwin.classify.intensity`);
* tells a blank image from a dark one by the spread *inside* the field of view, robust to a
  few outlier pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from braintwin.classify.preprocess import is_blank, ras_data
from braintwin.errors import InputError
from braintwin.types import Volume

__all__ = [
    "SliceChoice",
    "choose_slices",
    "export_slices",
    "foreground_mask",
    "signal_of",
]

# Slices whose tumour (or brain) area is below this fraction of the largest are too peripheral
# to show the lesion's type; the training JPEGs are mostly central slices through the lesion.
AREA_FRACTION = 0.3
MAX_SLICES = 9


@dataclass(frozen=True)
class SliceChoice:
    """Which RAS axial slices to classify and how much each counts.

    Attributes:
        indices: RAS superior-axis slice indices, in anatomical order.
        weights: matching weights (sum 1), proportional to the area used to choose them.
        rule: "tumour area", "brain area" or "foreground area" (for notes and reports).
    """

    indices: tuple[int, ...]
    weights: np.ndarray
    rule: str


def foreground_mask(data: np.ndarray) -> np.ndarray:
    """Voxels that differ from the background, for volumes without a brain mask.

    The background value is the median of the volume's outer faces (0 for most scans, a
    constant non-zero value for z-scored exports); foreground = differing from it by more than
    10 % of the robust (99th-percentile) deviation.
    """
    d = np.asarray(data, dtype=np.float32)
    faces = np.concatenate(
        [d[0].ravel(), d[-1].ravel(), d[:, 0].ravel(), d[:, -1].ravel(), d[..., 0].ravel()]
    )
    dev = np.abs(d - float(np.median(faces)))
    scale = float(np.percentile(dev, 99))
    if scale <= 0:
        return np.zeros(d.shape, dtype=bool)
    return np.asarray(dev > 0.1 * scale)


def choose_slices(
    volume: Volume, seg: Volume | None, brain_mask: Volume | None
) -> tuple[SliceChoice, np.ndarray, np.ndarray]:
    """Pick slices; returns (choice, RAS image data, RAS field-of-view mask).

    The field-of-view mask is the brain mask when given, else :func:`foreground_mask`.

    Raises:
        InputError: grids differ, or the volume is blank inside its field of view.
    """
    for other, what in ((seg, "segmentation"), (brain_mask, "brain mask")):
        if other is not None and other.shape != volume.shape:
            raise InputError(
                f"{what} shape {other.shape} differs from image shape {volume.shape}",
                f"resample the {what} onto the image grid first",
            )
    data = ras_data(volume).astype(np.float32)
    if brain_mask is not None and np.any(brain_mask.data):
        fov, fov_rule = ras_data(brain_mask) > 0, "brain area (no tumour segmentation)"
    else:
        fov, fov_rule = foreground_mask(data), "foreground area (no tumour segmentation)"
    if not fov.any() or is_blank(data, fov):
        raise InputError(
            "volume is blank (one constant intensity inside the field of view)",
            "check the image file; give an MRI volume with visible anatomy",
        )
    area = fov.sum(axis=(0, 1)).astype(np.float64)
    rule = fov_rule
    if seg is not None:
        tumour = ((ras_data(seg) > 0) & fov).sum(axis=(0, 1)).astype(np.float64)
        if tumour.max() > 0:
            area, rule = tumour, "tumour area"
    candidates = np.flatnonzero(area >= AREA_FRACTION * area.max())
    if len(candidates) > MAX_SLICES:  # keep the largest, then restore anatomical order
        candidates = np.sort(candidates[np.argsort(-area[candidates], kind="stable")[:MAX_SLICES]])
    # A slice must show anatomy: drop any whose field of view is blank (cannot empty the set:
    # the largest-area slice has tumour or brain pixels with spread, or the volume was blank).
    kept = [int(k) for k in candidates if not is_blank(data[..., k], fov[..., k])]
    if not kept:
        kept = [int(np.argmax(area))]
    w = area[kept]
    return SliceChoice(tuple(kept), w / w.sum(), rule), data, fov


def signal_of(volume: Volume, data: np.ndarray, fov: np.ndarray) -> np.ndarray | None:
    """Undo the twin's z-score: intensities on the scanner's scale (0 = no signal), 0 outside.

    A JPEG export windows from zero signal (black) to the brightest tissue; a z-scored volume
    has lost that zero (0 is the brain's mean), but the twin records the mean and SD it used
    (``meta["zscore"]``). Returns None when the volume carries no such record.
    """
    z = volume.meta.get("zscore") if isinstance(volume.meta, dict) else None
    try:
        mean, std = float(z["mean"]), float(z["std"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        return None
    out = np.where(fov, data * std + mean, 0.0)
    return np.maximum(out, 0.0).astype(np.float32)  # MR magnitude is never negative


def export_slices(
    data: np.ndarray, fov: np.ndarray, indices: tuple[int, ...], signal: np.ndarray | None = None
) -> list[np.ndarray]:
    """RAS axial slices as a (skull-stripped) training JPEG would show them.

    With ``signal`` (see :func:`signal_of`) the slices are the scanner-scale intensities with
    0 outside the brain, windowed later like any JPEG by
    :func:`~braintwin.classify.preprocess.prepare_slice`. Without it (a z-scored volume of
    unknown provenance) the field-of-view voxels of the chosen slices, pooled, are
    quantile-matched to the training brains
    (:func:`~braintwin.classify.intensity.match_to_reference`) and outside is 0 (black),
    whatever the stored background value was. Layout as
    :func:`~braintwin.classify.preprocess.axial_slice_ras`: anterior at the top, the patient's
    right on the image's left.
    """
    from braintwin.classify.intensity import match_to_reference

    idx = list(indices)
    if signal is not None:
        chosen = signal[..., idx]
    else:
        chosen = match_to_reference(data[..., idx], fov[..., idx])
    return [
        np.ascontiguousarray(chosen[::-1, ::-1, j].T).astype(np.float32) for j in range(len(idx))
    ]
