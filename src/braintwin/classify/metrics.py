"""Classification metrics: accuracy, per-class and macro F1, confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["classification_metrics", "confusion_matrix"]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; rows = true class, columns = predicted class."""
    yt = np.asarray(y_true, dtype=np.int64)
    yp = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(yt * n_classes + yp, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    class_names: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class F1 (by name) and the confusion matrix (list of lists).

    F1 of a class with no true and no predicted images is undefined and left out of the macro
    average (it is reported as None), rather than counted as 0 or 1.
    """
    from braintwin.classify.dataset import CLASSES
    from braintwin.errors import InputError

    if len(y_true) == 0:
        raise InputError("no images to score", "check the evaluation folder is not empty")
    names = class_names or CLASSES[:n_classes]
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # = 2 TP + FP + FN
    f1: list[float | None] = [
        float(2 * tp[k] / denom[k]) if denom[k] > 0 else None for k in range(n_classes)
    ]
    valid = [v for v in f1 if v is not None]
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(tp.sum() / n),
        "macro_f1": float(np.mean(valid)),
        "per_class_f1": dict(zip(names, f1, strict=True)),
        "confusion_matrix": cm.tolist(),
    }
