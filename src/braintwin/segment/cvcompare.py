"""Compare post-processing variants on cached cross-validated predictions, same folds.

Reads the cache written by :mod:`braintwin.segment.crossval` (each case predicted only by the
ensemble member that never saw it), upsamples to the case's own grid with the shipped code
(:func:`braintwin.segment.infer.upsample`), and scores labels made by the shipped
post-processing (:func:`braintwin.segment.postprocess.labels_from_probabilities`). Each case is
kept as a crop around every voxel any variant can label (probability ≥ 0.1, plus the reference
and a margin), so Dice and HD95 on the crop equal those on the whole grid.

Parameters of a post-processing step are chosen by leave-one-case-out over the 14
out-of-fold predictions (:func:`leave_one_out`): the value applied to a case is the one with
the best mean Dice on the other 13, so no case is scored with a value chosen on itself.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.segment.crossval import load_cached, upsample_cached
from braintwin.segment.data import brain_mask_of, load_brats_case, zscore_in_mask
from braintwin.segment.evaluate import thicken
from braintwin.segment.metrics import dice, hausdorff
from braintwin.segment.postprocess import SHIPPED, PostProcessing, labels_from_probabilities
from braintwin.types.labels import region_mask
from braintwin.types.volume import Modality

__all__ = [
    "GATES",
    "CaseData",
    "gate_grid",
    "leave_one_out",
    "load_case",
    "loo_table",
    "score_grid",
    "score_labels",
    "score_variant",
    "variant_grid",
]

REGIONS = ("WT", "TC", "ET")
#: Crop margin (voxels, ~1 mm) around every labellable voxel: wider than the enhancement
#: gate's shell (:data:`braintwin.segment.postprocess.SHELL_MM`), so the crop sees it whole.
_MARGIN = 8


@dataclass
class CaseData:
    """One case's out-of-fold probabilities and reference, cropped (see module docstring)."""

    name: str
    thresholds: dict[str, float]
    spacing: tuple[float, float, float]
    ref: np.ndarray
    t1ce_z: np.ndarray | None  # None when the set lacks the image (that step is skipped)
    flair_z: np.ndarray | None
    probs: dict[str, np.ndarray] = field(default_factory=dict)


def load_case(
    data_dir: Path,
    cache_dir: Path,
    name: str,
    tag: str,
    thresholds: dict[str, float],
    slice_mm: float | None = None,
) -> CaseData:
    """Load a cached case for one modality set (``tag``: "all", or sequences as "flair_t1ce").

    ``slice_mm`` degrades the sequences as the cache's predictions were made (``folds.json``).
    """

    mods = None if tag == "all" else tuple(Modality(m) for m in tag.split("_"))
    vols, seg = load_brats_case(data_dir / name, mods)
    if seg is None:
        raise InputError(f"case folder {name} has no *_seg reference")
    vols = thicken(vols, slice_mm)
    arrays = {m: np.asarray(v.data) for m, v in vols.items()}
    brain = brain_mask_of(list(arrays.values()))
    spacing = next(iter(vols.values())).spacing
    cached = load_cached(cache_dir / f"{name}.{tag}.npz")
    full = {k: upsample_cached(cached, k, brain) for k in ("p1", "p4", "p8")}
    ref = np.asarray(seg.data)
    keep = (ref > 0) | np.any([p[0] >= 0.1 for p in full.values()], axis=0)
    idx = np.argwhere(keep)
    lo = np.maximum(idx.min(0) - _MARGIN, 0)
    hi = np.minimum(idx.max(0) + _MARGIN + 1, ref.shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    return CaseData(
        name=name,
        thresholds=thresholds,
        spacing=spacing,
        ref=ref[sl].copy(),
        t1ce_z=_zscored(arrays, Modality.T1CE, brain, sl),
        flair_z=_zscored(arrays, Modality.FLAIR, brain, sl),
        probs={k: v[(slice(None), *sl)].astype(np.float16) for k, v in full.items()},
    )


def _zscored(
    arrays: dict[Modality, np.ndarray], m: Modality, brain: np.ndarray, sl: tuple[slice, ...]
) -> np.ndarray | None:
    return None if m not in arrays else zscore_in_mask(arrays[m], brain)[sl]


def score_variant(
    case: CaseData,
    flips: str,
    params: PostProcessing,
    thresholds: dict[str, float] | None = None,
    hd95: bool = False,
) -> dict[str, Any]:
    """Dice (and HD95 mm if asked) per region of one variant on one case."""
    probs = case.probs[flips].astype(np.float32)
    labels = labels_from_probabilities(
        probs,
        thresholds or case.thresholds,
        case.spacing,
        t1ce_z=case.t1ce_z,
        flair_z=case.flair_z,
        params=params,
    )
    return score_labels(labels, case.ref, case.spacing, hd95)


def score_labels(
    labels: np.ndarray, ref: np.ndarray, spacing: tuple[float, float, float], hd95: bool = True
) -> dict[str, Any]:
    """Dice (and HD95 mm if asked; None where a mask is empty) per region of BraTS labels."""
    row: dict[str, Any] = {"dice": {}, "hd95_mm": {}}
    for r in REGIONS:
        a, b = region_mask(labels, r), region_mask(ref, r)
        row["dice"][r] = dice(a, b)
        if hd95:
            h = hausdorff(a, b, spacing, 95.0)
            row["hd95_mm"][r] = None if not np.isfinite(h) else h
    return row


def leave_one_out(per_case: np.ndarray, region: int) -> tuple[np.ndarray, list[int]]:
    """Leave-one-case-out choice among variants.

    Args:
        per_case: Dice of shape (variants, cases, 3).
        region: which region's mean Dice selects the variant.

    Returns:
        (Dice (cases, 3) of the variant chosen on the other cases, chosen index per case).
        Ties go to the lowest index (list the default variant first).
    """
    n = per_case.shape[1]
    out = np.zeros((n, 3))
    chosen = []
    for i in range(n):
        others = np.delete(per_case[:, :, region], i, axis=1).mean(axis=1)
        k = int(np.flatnonzero(np.isclose(others, others.max()))[0])
        chosen.append(k)
        out[i] = per_case[k, i]
    return out, chosen


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean Dice (and HD95 over finite values) over cases."""
    out: dict[str, Any] = {
        "dice": {r: round(float(np.mean([x["dice"][r] for x in rows])), 4) for r in REGIONS}
    }
    if rows and rows[0]["hd95_mm"]:
        out["hd95_mm"] = {}
        for r in REGIONS:
            vals = [x["hd95_mm"][r] for x in rows if x["hd95_mm"][r] is not None]
            out["hd95_mm"][r] = round(float(np.mean(vals)), 2) if vals else None
    return out


def folds_of(cache_dir: Path) -> list[tuple[str, dict[str, float]]]:
    """(case, its member's thresholds) for every cached case, in fold order."""
    rec = json.loads((cache_dir / "folds.json").read_text())
    return [(c, m["thresholds"]) for m in rec["members"] for c in m["held_out"]]


Variant = tuple[str, PostProcessing]


def _refine(rule: str, level: float, margin: float, floor: float) -> PostProcessing:
    return PostProcessing(
        refine_et=True, et_rule=rule, et_level=level, rim_margin_mm=margin, et_floor=floor
    )


def variant_grid() -> dict[str, Variant]:
    """Every variant compared: name -> (flips key "p1"/"p4"/"p8", post-processing)."""
    v: dict[str, Variant] = {k: (k, PostProcessing()) for k in ("p1", "p4", "p8")}
    for m in (500, 1000, 2000, 4000):
        v[f"p8 minET{m}"] = ("p8", PostProcessing(min_et_mm3=m))
    for lv, mg, fl in itertools.product((0.2, 0.3, 0.4, 0.5), (0.0, 2.0), (0.0, 0.02, 0.1)):
        v[f"p8 refine midpoint{lv} m{mg} f{fl}"] = ("p8", _refine("midpoint", lv, mg, fl))
    for lv in (0.2, 0.3):
        v[f"p8 refine quantile{lv} m2.0 f0.02"] = ("p8", _refine("quantile", lv, 2.0, 0.02))
    for fl in (0.0, 0.02):
        v[f"p8 refine otsu m2.0 f{fl}"] = ("p8", _refine("otsu", 0.0, 2.0, fl))
    for k in ("p1", "p4"):
        v[f"{k} refine midpoint0.3 m2.0 f0.0"] = (k, _refine("midpoint", 0.3, 2.0, 0.0))
    v.update(gate_grid())
    v.update(wt_grid())
    return v


#: Enhancement gates compared (z-score units above the brain around the tumour).
GATES: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)


#: The gates' baseline: the shipped flips and refinement parameters, no gate.
_UNGATED = "p4 refine midpoint0.3 m2.0 f0.02"


def gate_grid() -> dict[str, Variant]:
    """The shipped flips and refinement without a gate (listed first) and with each gate."""
    ungated = _refine("midpoint", 0.3, 2.0, 0.02)
    v: dict[str, Variant] = {_UNGATED: ("p4", ungated)}
    for g in GATES:
        v[f"{_UNGATED} gate{g}"] = ("p4", replace(ungated, min_enhancement_z=g))
    return v


#: Whole-tumour boundary refinements compared: band (mm) on each side of the edge x level.
WT_BANDS: tuple[float, ...] = (1.0, 2.0)
WT_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)


#: Their baseline: the shipped path without the whole-tumour refinement.
_NO_WT = "p4 refinement + gate0.5"


def wt_grid() -> dict[str, Variant]:
    """The shipped path without the whole-tumour refinement (listed first) and with each."""
    base = replace(SHIPPED, wt_band_mm=0.0)
    v: dict[str, Variant] = {_NO_WT: ("p4", base)}
    for band, level in itertools.product(WT_BANDS, WT_LEVELS):
        v[f"{_NO_WT} wt{band} l{level}"] = ("p4", replace(base, wt_band_mm=band, wt_level=level))
    return v


def score_grid(cases: Sequence[CaseData], grid: dict[str, Variant]) -> dict[str, np.ndarray]:
    """Dice (cases, 3) of every variant."""
    return {
        name: np.asarray([[score_variant(c, fl, pp)["dice"][r] for r in REGIONS] for c in cases])
        for name, (fl, pp) in grid.items()
    }


def loo_table(
    cases: Sequence[CaseData],
    dices: dict[str, np.ndarray],
    grid: dict[str, Variant],
    fixed: dict[str, Variant],
) -> dict[str, Any]:
    """Table rows: TTA, LOO-chosen small-ET relabel and refinement, and ``fixed`` variants.

    Each row scores, per case, the variant chosen for it (Dice and HD95 per case).
    """
    n = len(cases)
    plan: dict[str, list[str]] = {k: [k] * n for k in ("p1", "p4", "p8") if k in dices}
    # (row, baseline, variants' prefix, region index the choice maximises: WT 0, ET 2)
    for label, default, prefix, region in (
        ("p8 + small-ET relabel (LOO)", "p8", "p8 minET", 2),
        ("p8 + 1 mm ET refinement (LOO)", "p8", "p8 refine", 2),
        ("p4 + refinement + enhancement gate (LOO)", _UNGATED, f"{_UNGATED} gate", 2),
        ("shipped ET path + 1 mm WT boundary refinement (LOO)", _NO_WT, f"{_NO_WT} wt", 0),
    ):
        family = [default, *(k for k in dices if k.startswith(prefix))]
        if default not in dices or len(family) == 1:
            continue
        _, chosen = leave_one_out(np.stack([dices[k] for k in family]), region)
        plan[label] = [family[i] for i in chosen]
    every = {**grid, **fixed}
    plan.update({k: [k] * n for k in fixed})
    table: dict[str, Any] = {}
    for label, names in plan.items():
        rows = [
            score_variant(c, every[v][0], every[v][1], hd95=True)
            for c, v in zip(cases, names, strict=True)
        ]
        table[label] = {
            **summarise(rows),
            "chosen": dict(Counter(names)),
            "cases": {
                c.name: {r: round(x["dice"][r], 4) for r in REGIONS}
                for c, x in zip(cases, rows, strict=True)
            },
        }
    return table


def main(argv: list[str] | None = None) -> None:
    """Load the cache, score the grid, print and write the comparison (JSON)."""
    from braintwin.segment.infer import SHIPPED_FLIPS

    ap = argparse.ArgumentParser(description="Compare post-processing on cached CV predictions")
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("cache_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="only the TTA rows, the enhancement gates and the fixed pipelines",
    )
    args = ap.parse_args(argv)
    record = json.loads((args.cache_dir / "folds.json").read_text())
    slice_mm = record.get("slice_mm")
    result: dict[str, Any] = {"slice_mm": slice_mm}
    shipped_flips = f"p{SHIPPED_FLIPS}"
    # the sets cached: all four and FLAIR + T1ce, or a specialist's own set only
    for tag in record.get("sets", ["all", "flair_t1ce"]):
        cases = [
            load_case(args.data_dir, args.cache_dir, n, tag, t, slice_mm)
            for n, t in folds_of(args.cache_dir)
        ]
        fixed = {
            "shipped": (shipped_flips, SHIPPED),
            "TTA 8 + refinement": ("p8", SHIPPED),
            "no TTA + refinement": ("p1", SHIPPED),
            "shipped without whole-tumour refinement": (
                shipped_flips,
                replace(SHIPPED, wt_band_mm=0.0),
            ),
            "shipped without enhancement gate": (
                shipped_flips,
                replace(SHIPPED, min_enhancement_z=None),
            ),
        }
        grid = (
            variant_grid()
            if tag == "all" and not args.quick
            else {k: variant_grid()[k] for k in ("p1", "p4", "p8")} | gate_grid() | wt_grid()
        )
        dices = score_grid(cases, grid)
        result[tag] = loo_table(cases, dices, grid, fixed)
        for label, row in result[tag].items():
            print(tag, label, row["dice"], row.get("hd95_mm"), flush=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
