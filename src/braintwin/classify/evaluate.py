"""Evaluate the classifier on a class-folder image set (the ``braintwin eval classify`` core).

Timing is honest: ``seconds_per_image`` is wall time (``time.perf_counter``) for decoding,
preparation and batched inference of every image (no cache), with the torch thread count
given (2 = the target machine); ``cpu_seconds_per_image`` is the process CPU time for the same
work, which tells how much of the wall time was spent waiting for other jobs on a shared
machine. Model loading is excluded (done once per process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.classify.calibration import expected_calibration_error, softmax
from braintwin.classify.dataset import CLASSES, load_prepared
from braintwin.classify.metrics import classification_metrics
from braintwin.errors import ConfigurationError

__all__ = ["evaluate_folder", "validation_subset"]


def validation_subset(images: np.ndarray, labels: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """Indices of the deduplicated validation split recorded in a checkpoint's ``info``.

    Recomputes hashes, groups and the seeded split exactly as training did, and checks the
    digest of the indices against the one stored at training time.

    Raises:
        ConfigurationError: the folder is not the one the checkpoint was trained on.
    """
    from braintwin.classify.dedup import group_near_duplicates, phash, split_groups
    from braintwin.classify.train import _index_digest

    cfg = info.get("config", {})
    groups = group_near_duplicates(phash(images), int(cfg.get("max_hamming", 6)))
    _, val_idx = split_groups(
        groups, labels, float(cfg.get("val_fraction", 0.2)), int(cfg.get("seed", 0))
    )
    if _index_digest(val_idx) != info.get("val_indices_sha"):
        raise ConfigurationError(
            "this folder does not reproduce the checkpoint's validation split",
            "use --validation-split only with the training folder the weights were trained on",
        )
    return val_idx


def evaluate_folder(
    data_dir: str | Path,
    *,
    weights: str | Path | None = None,
    robustness: bool = False,
    validation_split: bool = False,
    threads: int = 2,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro/per-class F1, confusion matrix, ECE and seconds per image on a folder.

    Args:
        data_dir: ``glioma/ meningioma/ notumor/ pituitary/`` sub-folders of images.
        weights: checkpoint (None = shipped).
        robustness: add the robustness table (see :mod:`braintwin.classify.robustness`).
        validation_split: evaluate only the checkpoint's deduplicated validation images of
            ``data_dir`` (which must be its training folder).
        threads: torch intra-op threads for the timed inference.
    """
    import torch

    from braintwin.classify.model import batch_logits
    from braintwin.classify.weights import load_classifier

    torch.set_num_threads(threads)
    clf = load_classifier(weights)
    t0, c0 = time.perf_counter(), time.process_time()
    data = load_prepared(data_dir, clf.size, use_cache=False, progress=progress)
    t1 = time.perf_counter()
    logits = batch_logits(clf.model, data.images)
    t2, c2 = time.perf_counter(), time.process_time()
    n_all = len(data.labels)
    idx = np.arange(n_all)
    subset = "all images"
    if validation_split:
        idx = validation_subset(data.images, data.labels, clf.info)
        subset = "deduplicated validation split of the training folder (not a held-out test)"
    probs = softmax(logits[idx], clf.temperature)
    y = data.labels[idx]
    result: dict[str, Any] = {"subset": subset}
    result.update(classification_metrics(y, probs.argmax(axis=1), len(CLASSES)))
    result["ece"] = expected_calibration_error(probs, y)
    result["ece_uncalibrated"] = expected_calibration_error(softmax(logits[idx], 1.0), y)
    result["temperature"] = clf.temperature
    result["seconds_per_image"] = (t2 - t0) / n_all
    result["seconds_per_image_inference_only"] = (t2 - t1) / n_all
    # CPU seconds of this process per image: on a shared machine wall time includes waiting
    # for other jobs; CPU time / threads approximates the wall time on idle cores.
    result["cpu_seconds_per_image"] = (c2 - c0) / n_all
    result["torch_threads"] = threads
    if robustness:
        from braintwin.classify.model import FlipAverage
        from braintwin.classify.robustness import robustness_report

        # Attack and perturb the deployed predictor (flip-averaged), white-box.
        result["robustness"] = robustness_report(
            FlipAverage(clf.model), data.images[idx], y, progress=progress
        )
    return result
