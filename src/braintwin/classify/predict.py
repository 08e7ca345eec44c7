"""Public inference API: classify one image, a stack of slices, a volume or a visit.

Every input goes through :func:`~braintwin.classify.preprocess.prepare_slice`, the shipped
network and its calibration temperature; probabilities are calibrated softmax outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.classify.calibration import softmax
from braintwin.classify.image_io import load_image, to_grey
from braintwin.classify.preprocess import axial_slice_ras, prepare_slice
from braintwin.errors import InputError
from braintwin.types import Modality, Visit, Volume

__all__ = ["Prediction", "classify_image", "classify_visit", "classify_volume_slices"]

# Slices whose tumour (or head) area is below this fraction of the largest are too peripheral
# to show the lesion's type; the training JPEGs are mostly central slices through the lesion.
_AREA_FRACTION = 0.3
_MAX_SLICES = 9


@dataclass(frozen=True)
class Prediction:
    """A calibrated tumour-type prediction.

    Attributes:
        probabilities: class name -> calibrated probability (sums to 1).
        label: the most probable class.
        explanation_png: Grad-CAM overlay (PNG bytes) for ``label``, or None if not requested.
        note: how the prediction was made (input, slices used), for reports.
        slices: for volumes, the RAS axial slice indices used (empty for 2D images).
    """

    probabilities: dict[str, float]
    label: str
    explanation_png: bytes | None = None
    note: str = ""
    slices: tuple[int, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (the PNG is left out; see ``explanation_png``)."""
        return {
            "label": self.label,
            "probabilities": self.probabilities,
            "note": self.note,
            "slices": list(self.slices),
            "has_explanation": self.explanation_png is not None,
        }


def _model(weights: str | Path | None) -> Any:
    from braintwin.classify.weights import load_classifier

    return load_classifier(weights)


def _predict_prepared(
    prepared: np.ndarray, weights: str | Path | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Calibrated probabilities (n, k) for prepared (n, size, size) uint8 slices."""
    import torch

    from braintwin.classify.model import batch_logits

    clf = _model(weights)
    with torch.inference_mode():
        logits = batch_logits(clf.model, prepared)
    return softmax(logits, clf.temperature), clf.classes


def _explain(prepared: np.ndarray, target: int, title: str, weights: str | Path | None) -> bytes:
    from braintwin.classify.explain import grad_cam, overlay_png

    heat = grad_cam(_model(weights).model, prepared, target)
    return overlay_png(prepared, heat, title=title)


def classify_image(
    path_or_array: str | Path | np.ndarray,
    *,
    explain: bool = True,
    weights: str | Path | None = None,
) -> Prediction:
    """Classify one 2D MRI slice (file path or array).

    Args:
        path_or_array: JPEG/PNG/DICOM/.npy path, or an array (H, W), (H, W, 3) or (H, W, 4).
        explain: attach a Grad-CAM PNG overlay for the predicted class.
        weights: checkpoint path; None = the shipped weights.

    Raises:
        InputError: unreadable, multi-frame, blank or tiny images.
    """
    if isinstance(path_or_array, (str, Path)):
        grey = load_image(path_or_array)
        source = f"image file ({Path(path_or_array).suffix.lower() or 'no suffix'})"
    else:
        grey = to_grey(path_or_array)
        source = f"array {grey.shape[1]}x{grey.shape[0]}"
    clf = _model(weights)
    prepared = prepare_slice(grey, clf.size)
    probs, classes = _predict_prepared(prepared[None], weights)
    k = int(np.argmax(probs[0]))
    label = classes[k]
    png = _explain(prepared, k, f"{label} {probs[0, k]:.2f}", weights) if explain else None
    return Prediction(
        probabilities={c: float(p) for c, p in zip(classes, probs[0], strict=True)},
        label=label,
        explanation_png=png,
        note=f"single 2D slice from {source}; calibrated (T={clf.temperature:.2f})",
    )


def _select_slices(volume: Volume, seg: Volume | None) -> tuple[list[int], np.ndarray, str]:
    """(slice indices, weights, description) of the axial slices to classify."""
    from braintwin.classify.preprocess import ras_data

    if seg is not None:
        if seg.shape != volume.shape:
            raise InputError(
                f"segmentation shape {seg.shape} differs from image shape {volume.shape}",
                "resample the segmentation onto the image grid first",
            )
        area = (ras_data(seg) > 0).sum(axis=(0, 1)).astype(np.float64)
        what = "tumour area"
        if area.max() == 0:
            seg = None  # empty segmentation: fall back to the head-area rule, and say so
    if seg is None:
        data = ras_data(volume).astype(np.float32)
        thresh = np.percentile(data, 1) + 0.1 * (np.percentile(data, 99) - np.percentile(data, 1))
        area = (data > thresh).sum(axis=(0, 1)).astype(np.float64)
        what = "head area (no tumour segmentation)"
        if area.max() == 0:
            raise InputError("volume has no visible anatomy on any axial slice")
    candidates = np.flatnonzero(area >= _AREA_FRACTION * area.max())
    if len(candidates) > _MAX_SLICES:  # keep the largest, then restore anatomical order
        candidates = np.sort(candidates[np.argsort(-area[candidates], kind="stable")[:_MAX_SLICES]])
    w = area[candidates]
    return [int(k) for k in candidates], w / w.sum(), what


def classify_volume_slices(
    volume: Volume,
    seg: Volume | None = None,
    *,
    explain: bool = True,
    weights: str | Path | None = None,
) -> Prediction:
    """Classify a 3D MRI volume from its axial slices.

    With ``seg`` (any label > 0 = tumour, same grid): the axial slices whose tumour area is at
    least 30 % of the largest (at most 9, the largest ones) are classified and their calibrated
    probabilities averaged, weighted by tumour area. Without it (or if it is empty): the same
    rule on the head area (intensity above 10 % of the robust range), i.e. central slices,
    which can miss a small lesion; the note says which rule was used. The explanation is the
    Grad-CAM of the most heavily weighted slice.
    """
    idx, w, what = _select_slices(volume, seg)
    clf = _model(weights)
    prepared = np.stack([prepare_slice(axial_slice_ras(volume, k), clf.size) for k in idx])
    probs, classes = _predict_prepared(prepared, weights)
    mean = (probs * w[:, None]).sum(axis=0)
    k = int(np.argmax(mean))
    label = classes[k]
    png = None
    if explain:
        best = int(np.argmax(w))
        png = _explain(prepared[best], k, f"{label} {mean[k]:.2f} (slice {idx[best]})", weights)
    return Prediction(
        probabilities={c: float(p) for c, p in zip(classes, mean, strict=True)},
        label=label,
        explanation_png=png,
        note=(
            f"{len(idx)} axial slices selected by {what}, probabilities averaged weighted by "
            f"area; {volume.modality.value} volume; calibrated (T={clf.temperature:.2f})"
        ),
        slices=tuple(idx),
    )


# Contrast-enhanced T1 first: most of the training slices (Figshare, Cheng et al. 2015) are T1ce.
_MODALITY_PREFERENCE = (Modality.T1CE, Modality.T1, Modality.FLAIR, Modality.T2)


def classify_visit(
    visit: Visit, *, explain: bool = True, weights: str | Path | None = None
) -> Prediction:
    """Classify a visit: its T1ce (else T1, FLAIR, T2) volume, slices chosen by its segmentation."""
    for m in _MODALITY_PREFERENCE:
        if m in visit.volumes:
            return classify_volume_slices(
                visit.volumes[m], visit.segmentation, explain=explain, weights=weights
            )
    raise InputError(
        "visit has no MRI volume to classify",
        "add a T1ce, T1, FLAIR or T2 volume to the visit",
    )
