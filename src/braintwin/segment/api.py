"""``segment_volumes``: one visit's MRI volumes -> BraTS labels, uncertainty and flags.

Methods live in an explicit registry (:data:`METHODS`): the trained network ("unet", a compact
SegResNet fold ensemble run with mirrored test-time augmentation and followed by the
full-resolution enhancing-tumour refinement of :mod:`braintwin.segment.postprocess`, both
chosen by cross-validation) and the classical intensity-clustering baselines ("kmeans", "gmm"). Inputs must
share one grid (run ``braintwin.preprocess`` first); any subset of T1, T1ce, T2 and FLAIR is
accepted by the network, which was trained with modality dropout.

Enhancing tumour is defined by contrast uptake, so it is not observable without T1ce: for such
visits voxels predicted as enhancing are reported as tumour core (label 1), the result says
so in ``flags``, and ``meta["observable_regions"]`` (also on the label volume's meta) lists
the regions that can be measured (["WT", "TC"] instead of ["WT", "TC", "ET"]).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import ConfigurationError, InputError
from braintwin.segment.data import CHANNELS, brain_mask_of
from braintwin.segment.result import Segmentation
from braintwin.types.volume import Modality, Volume

__all__ = [
    "METHODS",
    "OBSERVABLE_ALL",
    "Progress",
    "default_brain_mask",
    "segment_visit",
    "segment_volumes",
]

Progress = Callable[[str, float], None]
#: method(arrays, brain, spacing, uncertainty, weights, progress) -> (labels, uncertainty, flags)
MethodFn = Callable[
    [
        dict[Modality, np.ndarray],
        np.ndarray,
        tuple[float, float, float],
        bool,
        Path | None,
        Progress | None,
    ],
    tuple[np.ndarray, np.ndarray | None, list[str]],
]

#: Flag when the predicted whole tumour exceeds this fraction of the brain.
MAX_TUMOUR_FRACTION = 0.5
#: Fewer brain voxels than this (1 mL at 1 mm) is treated as "no brain".
MIN_BRAIN_MM3 = 1000.0
#: Regions a visit with T1ce can show; without T1ce, ET is dropped from this list.
OBSERVABLE_ALL: tuple[str, ...] = ("WT", "TC", "ET")


def _unet(
    arrays: dict[Modality, np.ndarray],
    brain: np.ndarray,
    spacing: tuple[float, float, float],
    uncertainty: bool,
    weights: Path | None,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    from braintwin.segment.data import prepare_input, zscore_in_mask
    from braintwin.segment.infer import SHIPPED_FLIPS, predict_regions
    from braintwin.segment.network import DEFAULT_WEIGHTS, load_model, trained_modalities
    from braintwin.segment.postprocess import SHIPPED, labels_from_probabilities

    model, info = load_model(Path(weights) if weights is not None else DEFAULT_WEIGHTS)
    thr = info.get("thresholds", {"WT": 0.5, "TC": 0.5, "ET": 0.5})
    flags: list[str] = []
    only = trained_modalities(info)
    if only is not None:  # a specialist never saw other channels filled: give it its own
        unused = [m.value for m in arrays if m.value not in only]
        arrays = {m: a for m, a in arrays.items() if m.value in only}
        if not arrays:
            raise InputError(
                f"these weights were trained on {', '.join(only)} only, and none is given",
                "give those sequences, or use the shipped weights",
            )
        if unused:
            flags.append(f"weights trained on {', '.join(only)} only: {', '.join(unused)} not used")
    if progress:
        progress("normalising and cropping", 0.1)
    prepared = prepare_input(arrays, brain, spacing)
    if progress:
        progress("running the network", 0.3)
    probs, var = predict_regions(
        prepared, model, brain, n_flips=max(SHIPPED_FLIPS, 4) if uncertainty else SHIPPED_FLIPS
    )
    t1ce, flair = arrays.get(Modality.T1CE), arrays.get(Modality.FLAIR)
    labels = labels_from_probabilities(
        probs,
        thr,
        spacing,
        t1ce_z=None if t1ce is None else zscore_in_mask(t1ce, brain),
        flair_z=None if flair is None else zscore_in_mask(flair, brain),
        params=SHIPPED,
    )
    # TTA variance of a probability is at most 0.25; ×4 puts the map on [0, 1].
    unc = None if var is None or not uncertainty else np.clip(4.0 * var, 0.0, 1.0)
    return labels, None if unc is None else unc.astype(np.float32), flags


def _classical(kind: str) -> MethodFn:
    def run(
        arrays: dict[Modality, np.ndarray],
        brain: np.ndarray,
        spacing: tuple[float, float, float],
        uncertainty: bool,
        weights: Path | None,
        progress: Progress | None,
    ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        from braintwin.segment.classical import cluster_segment

        labels, flags = cluster_segment(arrays, brain, spacing, kind=kind)
        if uncertainty:
            flags.append(f"no uncertainty map: method {kind!r} is deterministic clustering")
        return labels, None, flags

    return run


#: Explicit registry of segmentation methods.
METHODS: dict[str, MethodFn] = {
    "unet": _unet,
    "kmeans": _classical("kmeans"),
    "gmm": _classical("gmm"),
}


def _accuracy_note(method: str, present: set[Modality], weights: Path | None) -> str:
    """What the missing sequences cost, from the cross-validation shipped with the model.

    Only the shipped weights have a measured record, and it covers two sets: all four
    sequences and FLAIR + T1ce. Any other set is told that no figure exists for it, rather
    than quoted the FLAIR + T1ce figure as if it applied.
    """
    import json

    from braintwin.segment.network import DEFAULT_WEIGHTS

    shown = ",".join(m.value for m in CHANNELS if m in present)
    measure = f"measure it with `braintwin eval segment DIR --modalities {shown}`"
    generic = f"expect lower accuracy; {measure}"
    path = DEFAULT_WEIGHTS.with_suffix(".json")
    shipped = weights is None or Path(weights).resolve() == DEFAULT_WEIGHTS.resolve()
    if method != "unet" or not shipped or not path.is_file():
        return generic
    try:
        cv = json.loads(path.read_text())["cross_validation"]
        full, two = cv["unet"]["dice"]["WT"], cv["unet_flair_t1ce"]["dice"]["WT"]
    except (KeyError, TypeError, ValueError):
        return generic
    if present == {Modality.FLAIR, Modality.T1CE}:
        return (
            f"expect lower accuracy: cross-validated WT Dice {two:.2f} with FLAIR+T1ce only "
            f"vs {full:.2f} with all four"
        )
    return (
        f"expect lower accuracy: cross-validated WT Dice {full:.2f} with all four and "
        f"{two:.2f} with FLAIR+T1ce; this set ({shown}) was not cross-validated, {measure}"
    )


def _as_mask(brain_mask: Volume | np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if brain_mask is None:
        return None
    arr = brain_mask.data if isinstance(brain_mask, Volume) else np.asarray(brain_mask)
    if arr.shape != shape:
        raise InputError(
            f"brain mask shape {arr.shape} does not match the images {shape}",
            "compute the mask on the same grid (braintwin.preprocess.brain_mask)",
        )
    return arr.astype(bool)


def default_brain_mask(arrays: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Brain of skull-stripped images given without a mask: not background in any of them.

    Background is exactly 0, or, for already normalised exports, the constant value that
    fills the border-connected outside (:func:`braintwin.preprocess.background.detect_background`);
    taking such a background for brain would z-score the images over the whole grid.
    Returns the mask and one note per image whose background was not 0.
    """
    from braintwin.preprocess.background import detect_background

    mask = np.zeros(arrays[0].shape, dtype=bool)
    notes: list[str] = []
    for arr in arrays:
        # A zero corner means a zero background (the common, skull-stripped case): skip the
        # connected-component search there.
        found = detect_background(arr) if arr.flat[0] != 0 else None
        if found is not None and found[0].value != 0.0:
            mask |= ~found[1]
            notes.append(f"{found[0].value:.4g}")
        else:
            mask |= brain_mask_of([arr])
    return mask, notes


def _no_enhancement(labels: np.ndarray, voxel_mm3: float) -> tuple[np.ndarray, str]:
    """Without T1ce, enhancing (4) is not observable: report such voxels as core (1)."""
    from braintwin.types.labels import Label

    et = labels == Label.ENHANCING
    n = int(np.count_nonzero(et))
    note = "no T1ce: enhancing tumour (ET) is not observable without a contrast image"
    if n:
        labels = labels.copy()
        labels[et] = Label.NECROTIC
        note += f"; {n * voxel_mm3 / 1000.0:.1f} mL predicted as enhancing reported as tumour core"
    return labels, note + "; measurable regions: WT, TC"


def _select(
    volumes: dict[Modality, Volume], modalities: tuple[Modality | str, ...] | None
) -> dict[Modality, Volume]:
    if not volumes:
        raise InputError("no volumes given", "pass at least FLAIR or T1ce")
    unknown = [str(m) for m in volumes if Modality(m) not in CHANNELS]
    if unknown:
        raise InputError(
            f"cannot segment from modality {', '.join(unknown)}",
            "pass MRI sequences only: t1, t1ce, t2, flair",
        )
    chosen = {Modality(m): v for m, v in volumes.items()}
    if modalities is not None:
        wanted = {Modality(m) for m in modalities}
        chosen = {m: v for m, v in chosen.items() if m in wanted}
        if not chosen:
            raise InputError(
                f"none of the requested modalities {sorted(str(m) for m in wanted)} is present",
                f"available: {sorted(str(m) for m in volumes)}",
            )
    ref = next(iter(chosen.values()))
    for m, v in chosen.items():
        if not v.same_grid(ref):
            raise InputError(
                f"modality {m.value} is on grid {v.shape} but {next(iter(chosen)).value} is on "
                f"{ref.shape} (or their affines differ)",
                "co-register and resample the visit first (braintwin.preprocess.preprocess_visit)",
            )
    return chosen


def segment_volumes(
    volumes: dict[Modality, Volume],
    *,
    brain_mask: Volume | np.ndarray | None = None,
    method: str = "unet",
    modalities: tuple[Modality | str, ...] | None = None,
    uncertainty: bool = False,
    progress: Progress | None = None,
    weights: Path | None = None,
) -> Segmentation:
    """Segment a tumour into BraTS labels on the input grid.

    Args:
        volumes: MRI sequence -> Volume, all on one grid (about 1 mm; skull-stripped, or with
            ``brain_mask``). Any non-empty subset of t1, t1ce, t2, flair.
        brain_mask: bool mask on the same grid; default: voxels non-zero in any input.
        method: a key of :data:`METHODS` ("unet", "kmeans", "gmm").
        modalities: use only these sequences (to simulate missing ones); default all given.
        uncertainty: also return a TTA uncertainty map in [0, 1] ("unet" only).
        progress: callback (message, fraction 0..1).
        weights: a weights file other than the shipped one ("unet" only).

    Returns:
        :class:`Segmentation` with uint8 labels {0, 1, 2, 4} (modality SEG) and flags.
    """
    if method not in METHODS:
        raise ConfigurationError(
            f"unknown segmentation method {method!r}", f"choose one of {sorted(METHODS)}"
        )
    t0 = time.perf_counter()
    chosen = _select(volumes, modalities)
    ref = next(iter(chosen.values()))
    arrays = {m: np.asarray(v.data) for m, v in chosen.items()}
    brain = _as_mask(brain_mask, ref.shape)
    flags: list[str] = []
    if brain is None:
        brain, backgrounds = default_brain_mask(list(arrays.values()))
        if backgrounds:
            flags.append(
                f"constant non-zero background ({', '.join(backgrounds)}) recognised, as in an "
                "already normalised export; treated as background"
            )
    missing = [m.value.upper() for m in CHANNELS if m not in chosen]
    if missing:
        note = _accuracy_note(method, set(chosen), weights)
        flags.append(f"missing modalities: {', '.join(missing)} ({note})")
    brain_mm3 = float(brain.sum()) * ref.voxel_volume_mm3
    if brain_mm3 < MIN_BRAIN_MM3:
        flags.append(f"no brain: {brain_mm3:.0f} mm³ of non-zero voxels; nothing segmented")
        labels = np.zeros(ref.shape, dtype=np.uint8)
        unc_arr = None
    else:
        labels, unc_arr, more = METHODS[method](
            arrays, brain, ref.spacing, uncertainty, weights, progress
        )
        flags.extend(more)
        if Modality.T1CE not in chosen:
            labels, note = _no_enhancement(labels, ref.voxel_volume_mm3)
            flags.append(note)
        wt = int(np.count_nonzero(labels))
        if wt == 0:
            flags.append("empty prediction: no tumour voxel found")
        elif wt > MAX_TUMOUR_FRACTION * int(brain.sum()):
            flags.append(
                f"tumour covers > {MAX_TUMOUR_FRACTION:.0%} of the brain "
                f"({wt / brain.sum():.0%}); check the input"
            )
    if progress:
        progress("done", 1.0)
    observable = [r for r in OBSERVABLE_ALL if r != "ET" or Modality.T1CE in chosen]
    meta: dict[str, Any] = {
        "method": method,
        "modalities": [m.value for m in CHANNELS if m in chosen],
        "observable_regions": observable,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    unc_vol = None
    if unc_arr is not None:
        unc_vol = ref.with_data(unc_arr, Modality.PROBABILITY, kind="tta_wt_variance_x4")
    return Segmentation(
        labels=ref.with_data(
            labels, Modality.SEG, method=method, observable_regions=list(observable)
        ),
        uncertainty=unc_vol,
        flags=flags,
        method=method,
        meta=meta,
    )


#: The name used in docs/architecture.md; identical to :func:`segment_volumes`.
segment_visit = segment_volumes
