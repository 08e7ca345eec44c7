"""Probability thresholds per region, chosen on the training cases only.

A briefly trained network is not well calibrated: 0.5 on its sigmoid outputs may over- or
under-segment systematically. After training, each region's threshold is picked from a fixed
grid to maximise the mean per-case Dice on the *training* cases (never the held-out fold) and
stored in the weights file; inference reads it from there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from braintwin.segment.data import brain_mask_of, load_brats_case, prepare_input
from braintwin.segment.regions import REGION_ORDER, labels_to_regions

__all__ = ["DEFAULT_THRESHOLDS", "THRESHOLD_GRID", "calibrate_weights", "choose_thresholds"]

THRESHOLD_GRID: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEFAULT_THRESHOLDS: dict[str, float] = dict.fromkeys(REGION_ORDER, 0.5)


def choose_thresholds(dices: np.ndarray) -> dict[str, float]:
    """Best grid threshold per region from per-case Dice of shape (cases, 3, len(grid)).

    Ties go to the threshold nearest 0.5 (the uncalibrated default).
    """
    mean = dices.mean(axis=0)
    out = {}
    grid = np.asarray(THRESHOLD_GRID)
    for r, name in enumerate(REGION_ORDER):
        best = mean[r].max()
        candidates = np.flatnonzero(np.isclose(mean[r], best))
        out[name] = float(grid[candidates[np.argmin(np.abs(grid[candidates] - 0.5))]])
    return out


def calibrate_weights(
    weights: Path, data_dir: Path, log: Callable[[str, float], None] | None = None
) -> dict[str, float]:
    """Choose thresholds on the weights' own training cases and store them in the file."""
    from braintwin.checkpoint import write_checkpoint
    from braintwin.segment.infer import predict_regions
    from braintwin.segment.network import model_from_payload, read_weights, trained_modalities
    from braintwin.types.volume import Modality

    payload = read_weights(Path(weights))
    model = model_from_payload(payload)
    names = payload["info"]["train_cases"]
    # A specialist is calibrated on the sequences it will be given.
    only = trained_modalities(payload["info"])
    mods = None if only is None else tuple(Modality(m) for m in only)
    dices = np.zeros((len(names), 3, len(THRESHOLD_GRID)))
    for i, name in enumerate(names):
        vols, seg = load_brats_case(Path(data_dir) / name, mods)
        if seg is None:
            continue
        arrays = {m: v.data for m, v in vols.items()}
        brain = brain_mask_of(list(arrays.values()))
        prep = prepare_input(arrays, brain, next(iter(vols.values())).spacing)
        probs, _ = predict_regions(prep, model, brain)
        ref = labels_to_regions(np.asarray(seg.data))
        for r in range(3):
            n_ref = int(ref[r].sum())
            for t, thr in enumerate(THRESHOLD_GRID):
                pred = probs[r] >= thr
                total = int(pred.sum()) + n_ref
                inter = int(np.logical_and(pred, ref[r]).sum())
                dices[i, r, t] = 1.0 if total == 0 else 2.0 * inter / total
        if log:
            log(f"threshold calibration: case {i + 1}/{len(names)}", (i + 1) / len(names))
    chosen = choose_thresholds(dices)
    payload["info"]["thresholds"] = chosen
    payload["info"]["threshold_train_dice"] = {
        name: [round(float(v), 4) for v in dices.mean(axis=0)[r]]
        for r, name in enumerate(REGION_ORDER)
    }
    write_checkpoint(payload, weights)
    return chosen
