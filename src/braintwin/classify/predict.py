"""Public inference API: classify one image, a stack of slices, a volume or a visit.

Every input goes through :func:`~braintwin.classify.preprocess.prepare_slice`, the shipped
network and its calibration temperature; probabilities are calibrated softmax outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.classify.calibration import softmax
from braintwin.classify.image_io import load_image, to_grey
from braintwin.classify.preprocess import prepare_slice
from braintwin.errors import InputError
from braintwin.types import Modality, Visit, Volume

__all__ = [
    "MIN_TUMOUR_ML",
    "MODALITY_PREFERENCE",
    "Prediction",
    "classify_image",
    "classify_visit",
    "classify_volume_slices",
    "tumour_ml",
]


@dataclass(frozen=True)
class Prediction:
    """A calibrated tumour-type prediction.

    Attributes:
        probabilities: class name -> calibrated probability (sums to 1).
        label: the most probable class.
        explanation_png: Grad-CAM overlay (PNG bytes) for ``label``, or None if not requested.
        note: how the prediction was made (input, slices used), for reports.
        slices: for volumes, the RAS axial slice indices used (empty for 2D images).
        modality: for volumes, the modality classified (e.g. "t1ce"); None for 2D images.
        tumour_ml: for visits, the segmented tumour volume (labels > 0, mL); None if unsegmented.
        flags: warnings a reader must see next to the label (one line each), e.g. the label
            contradicts the segmentation, or the visit had no T1ce.
        disagreement: the label contradicts the segmentation ("notumor" with a segmented
            tumour of at least 1 mL, or a tumour type with no segmented tumour at all).
    """

    probabilities: dict[str, float]
    label: str
    explanation_png: bytes | None = None
    note: str = ""
    slices: tuple[int, ...] = field(default_factory=tuple)
    modality: str | None = None
    tumour_ml: float | None = None
    flags: tuple[str, ...] = field(default_factory=tuple)
    disagreement: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (the PNG is left out; see ``explanation_png``)."""
        return {
            "label": self.label,
            "probabilities": self.probabilities,
            "note": self.note,
            "slices": list(self.slices),
            "modality": self.modality,
            "tumour_ml": self.tumour_ml,
            "flags": list(self.flags),
            "disagreement": self.disagreement,
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


def classify_volume_slices(
    volume: Volume,
    seg: Volume | None = None,
    *,
    brain_mask: Volume | None = None,
    explain: bool = True,
    weights: str | Path | None = None,
) -> Prediction:
    """Classify a 3D MRI volume from its axial slices.

    Slices (see :func:`~braintwin.classify.volume_slices.choose_slices`): with ``seg`` (any
    label > 0 = tumour, same grid) the axial slices whose tumour area is at least 30 % of the
    largest (at most 9, the largest ones); without it (or if it is empty) the same rule on the
    brain-mask area, or on the foreground area when there is no mask. Each slice is exported
    as a skull-stripped training JPEG would show it (outside the brain black; a twin volume's
    z-score undone so the window runs from zero signal, else the brain quantile-matched to the
    training brains), prepared like a training image, and the calibrated probabilities are
    averaged weighted by area. The explanation is the Grad-CAM of the most heavily weighted
    slice. No flags are raised here; :func:`classify_visit` compares with the segmentation.
    """
    from braintwin.classify.volume_slices import choose_slices, export_slices, signal_of

    choice, data, fov = choose_slices(volume, seg, brain_mask)
    signal = signal_of(volume, data, fov)
    clf = _model(weights)
    images = export_slices(data, fov, choice.indices, signal)
    prepared = np.stack([prepare_slice(img, clf.size) for img in images])
    probs, classes = _predict_prepared(prepared, weights)
    mean = (probs * choice.weights[:, None]).sum(axis=0)
    k = int(np.argmax(mean))
    label = classes[k]
    png = None
    if explain:
        best = int(np.argmax(choice.weights))
        title = f"{label} {mean[k]:.2f} (slice {choice.indices[best]})"
        png = _explain(prepared[best], k, title, weights)
    return Prediction(
        probabilities={c: float(p) for c, p in zip(classes, mean, strict=True)},
        label=label,
        explanation_png=png,
        note=(
            f"{len(choice.indices)} axial slices selected by {choice.rule}, probabilities "
            f"averaged weighted by area; {volume.modality.value} volume; "
            f"calibrated (T={clf.temperature:.2f})"
        ),
        slices=choice.indices,
        modality=volume.modality.value,
    )


# Contrast-enhanced T1 first: most of the training slices (Figshare, Cheng et al. 2015) are
# T1ce. Without it, FLAIR then T2: a tumour is conspicuous there (hyperintense), while on a
# non-contrast T1 it is barely visible, and the label must come from the lesion's appearance.
MODALITY_PREFERENCE = (Modality.T1CE, Modality.FLAIR, Modality.T2, Modality.T1)
#: A segmented tumour at least this large (mL) contradicts a "notumor" label.
MIN_TUMOUR_ML = 1.0


def tumour_ml(seg: Volume | None) -> float | None:
    """Volume (mL) of all tumour labels (> 0) of a segmentation; None without one."""
    if seg is None:
        return None
    return float(np.count_nonzero(np.asarray(seg.data) > 0) * seg.voxel_volume_mm3 / 1000.0)


def _visit_flags(pred: Prediction, ml: float | None, modality: Modality) -> tuple[bool, list[str]]:
    """(disagreement, flags) comparing the label with the segmentation and the input used."""
    flags: list[str] = []
    disagree = False
    if modality is not Modality.T1CE:
        flags.append(
            f"no T1ce in this visit: classified from {modality.value.upper()}; the classifier "
            "was trained mostly on contrast-enhanced T1 slices, so the type is less reliable"
        )
    if ml is not None and ml >= MIN_TUMOUR_ML and pred.label == "notumor":
        disagree = True
        best = max(
            (c for c in pred.probabilities if c != "notumor"), key=pred.probabilities.__getitem__
        )
        flags.append(
            f"disagreement: the segmentation has a {ml:.1f} mL tumour but the classifier says "
            f"notumor (p={pred.probabilities['notumor']:.2f}); most likely tumour type {best} "
            f"(p={pred.probabilities[best]:.2f}); review the images"
        )
    elif ml is not None and ml == 0.0 and pred.label != "notumor":
        disagree = True
        flags.append(
            f"disagreement: the classifier says {pred.label} "
            f"(p={pred.probabilities[pred.label]:.2f}) but the segmentation found no tumour; "
            "review the images"
        )
    return disagree, flags


def classify_visit(
    visit: Visit, *, explain: bool = True, weights: str | Path | None = None
) -> Prediction:
    """Classify a visit as the twin holds it (preprocessed, segmented, with a brain mask).

    Uses its T1ce (else FLAIR, T2, T1) volume, slices chosen by its segmentation (else its
    brain mask), and compares the label with the segmentation: see :class:`Prediction`'s
    ``flags`` and ``disagreement``.

    Raises:
        InputError: no MRI volume, grids that differ, or a volume blank inside the brain.
    """
    for m in MODALITY_PREFERENCE:
        if m in visit.volumes:
            pred = classify_volume_slices(
                visit.volumes[m],
                visit.segmentation,
                brain_mask=visit.brain_mask,
                explain=explain,
                weights=weights,
            )
            ml = tumour_ml(visit.segmentation)
            disagree, flags = _visit_flags(pred, ml, m)
            return replace(pred, tumour_ml=ml, flags=tuple(flags), disagreement=disagree)
    raise InputError(
        "visit has no MRI volume to classify",
        "add a T1ce, T1, FLAIR or T2 volume to the visit",
    )
