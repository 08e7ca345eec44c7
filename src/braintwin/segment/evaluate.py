"""Evaluate a segmentation method on BraTS-layout cases (Dice and HD95 per region).

The JSON shape is the evaluation interface of DESIGN.md: ``{"n", "dice": {"WT", "TC", "ET"},
"hd95_mm": {...}, "seconds_per_case", "cases": [...]}``. An infinite HD95 (one mask empty) is
reported as null with a flag and left out of the mean HD95; its Dice (0) is kept in the mean.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.segment.api import Progress, segment_volumes
from braintwin.segment.data import load_brats_case
from braintwin.segment.metrics import dice, hausdorff
from braintwin.types.labels import region_mask
from braintwin.types.volume import Modality, Volume

__all__ = ["REGIONS", "evaluate_cases", "score_case", "thicken"]

REGIONS: tuple[str, str, str] = ("WT", "TC", "ET")


def score_case(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, float, float]
) -> dict[str, Any]:
    """Dice and HD95 (mm; None when infinite) per region, plus flags."""
    row: dict[str, Any] = {"dice": {}, "hd95_mm": {}, "flags": []}
    for r in REGIONS:
        a, b = region_mask(pred, r), region_mask(ref, r)
        row["dice"][r] = round(dice(a, b), 4)
        hd = hausdorff(a, b, spacing, 95.0)
        if math.isinf(hd):
            row["hd95_mm"][r] = None
            which = "prediction" if not a.any() else "reference"
            row["flags"].append(f"{r}: {which} empty, HD95 undefined")
        else:
            row["hd95_mm"][r] = round(hd, 2)
    return row


def thicken(volumes: dict[Modality, Volume], slice_mm: float | None) -> dict[Modality, Volume]:
    """Every volume as if acquired with ``slice_mm`` axial (third-axis) slices (None: as is)."""
    from braintwin.segment.augment import simulate_thick_slices

    if slice_mm is None:
        return volumes

    return {
        m: v.with_data(simulate_thick_slices(np.asarray(v.data), v.spacing[2], slice_mm))
        for m, v in volumes.items()
    }


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None


def evaluate_cases(
    case_dirs: Sequence[Path],
    *,
    method: str = "unet",
    modalities: tuple[Modality, ...] | None = None,
    weights: Path | None = None,
    progress: Progress | None = None,
    slice_mm: float | None = None,
) -> dict[str, Any]:
    """Segment every case and score it against its ``*_seg`` file.

    ``slice_mm`` degrades every input sequence to that axial slice thickness first
    (:func:`braintwin.segment.augment.simulate_thick_slices`; the reference is untouched), a
    stand-in for clinical 2D protocols. Returns the DESIGN.md evaluation dict, plus
    ``method``, ``modalities``, ``slice_mm`` and ``peak_rss_mb`` (max resident memory of this
    process so far, MB).
    """
    rows: list[dict[str, Any]] = []
    seconds: list[float] = []
    for i, case in enumerate(case_dirs):
        if progress:
            progress(f"case {i + 1}/{len(case_dirs)}", i / max(1, len(case_dirs)))
        volumes, ref = load_brats_case(case, modalities)
        if ref is None:
            raise InputError(
                f"case folder {case.name} has no *_seg reference", "add CASE_seg.nii.gz"
            )
        volumes = thicken(volumes, slice_mm)
        t0 = time.perf_counter()
        seg = segment_volumes(volumes, method=method, weights=weights)
        sec = time.perf_counter() - t0
        seconds.append(sec)
        if not seg.labels.same_grid(ref):
            raise InputError(f"case {case.name}: reference segmentation is on another grid")
        row = {"case": case.name, **score_case(seg.labels.data, ref.data, ref.spacing)}
        row["flags"] = seg.flags + row["flags"]
        row["seconds"] = round(sec, 2)
        rows.append(row)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "n": len(rows),
        "method": method,
        "modalities": [m.value for m in modalities] if modalities else "all",
        "slice_mm": slice_mm,
        "dice": {r: _mean([row["dice"][r] for row in rows]) for r in REGIONS},
        "hd95_mm": {r: _mean([row["hd95_mm"][r] for row in rows]) for r in REGIONS},
        "seconds_per_case": round(float(np.mean(seconds)), 2) if seconds else None,
        "peak_rss_mb": round(peak_mb, 1),
        "cases": rows,
    }
