"""``braintwin eval classify-volumes DIR``: the tumour type exactly as ``ingest`` produces it.

Each case folder goes through the twin's own path: :func:`braintwin.io.read_visit_images`,
:func:`braintwin.twin.ingest.prepare_visit` with the default :class:`IngestOptions`
(preprocessing: 1 mm RAS grid, N4, brain mask, z-score; segmentation by the shipped network),
then :func:`braintwin.classify.classify_visit` on the in-memory visit, as ``Twin.add_visit``
does. An expert label file in the folder (``*_seg``) is dropped right after reading, so it
can neither choose slices nor stand in for the predicted segmentation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from braintwin.errors import ConfigurationError, InputError

__all__ = ["PATH_DESCRIPTION", "evaluate_classification_visits"]

PATH_DESCRIPTION = (
    "twin path: read_visit_images -> prepare_visit (default IngestOptions: 1 mm RAS, N4, "
    "brain mask, z-score, network segmentation) -> classify_visit; expert labels not used"
)
# Any date: dates do not influence preprocessing, segmentation or classification.
_DATE = dt.date(2000, 1, 1)


def evaluate_classification_visits(
    data_dir: str | Path,
    label: str,
    *,
    without: Sequence[str] = (),
    weights: str | Path | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Classify every case folder of ``data_dir`` through the twin path; all are ``label``.

    Args:
        data_dir: folder of case folders (e.g. the BraTS layout ``CASE/CASE_t1ce.nii.gz``).
        label: the true class of every case ("glioma" for BraTS).
        without: modalities to drop after reading (e.g. ``("t1ce",)`` to check the path of a
            visit without contrast).
        weights: classifier checkpoint (None = shipped).

    Returns:
        n, counts, accuracy, mean calibrated probability of ``label``, cases flagged, per-case
        rows (label, probabilities, modality, segmented tumour mL, flags, seconds).
    """
    from braintwin.classify import CLASSES, classify_visit
    from braintwin.io import read_visit_images
    from braintwin.segment.data import list_brats_cases
    from braintwin.twin.ingest import IngestOptions, prepare_visit
    from braintwin.types import Modality

    if label not in CLASSES:
        raise ConfigurationError(f"unknown class {label!r}", f"choose one of {list(CLASSES)}")
    try:
        dropped = {Modality(m.strip().lower()) for m in without if m.strip()}
    except ValueError as err:
        raise ConfigurationError(
            f"unknown modality in --without ({err})", "use t1, t1ce, t2 or flair"
        ) from err
    cases = list_brats_cases(Path(data_dir))
    opts = IngestOptions(update_model=False)  # defaults otherwise: what `ingest` runs
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for i, case in enumerate(cases):
        t0 = time.perf_counter()
        images = read_visit_images(case)
        volumes = {m: v for m, v in images.volumes.items() if m not in dropped}
        if not volumes:
            raise InputError(f"{case.name}: no MRI volume left after dropping {sorted(dropped)}")
        images = dataclasses.replace(images, volumes=volumes, segmentation=None)
        step = (
            (lambda m, f, i=i: progress(f"case {i + 1}/{len(cases)}: {m}", (i + f) / len(cases)))
            if progress is not None
            else None
        )
        prepared = prepare_visit(
            case, images=images, date=_DATE, date_offset_days=0, options=opts, progress=step
        )
        visit = prepared.visit
        method = visit.meta.get("segmentation", {}).get("method")
        if method != opts.segment or "reference_seg" in visit.extras:
            raise ConfigurationError(  # guards the "predicted segmentation only" promise
                f"{case.name}: the visit's segmentation is not the network's ({method!r})"
            )
        pred = classify_visit(visit, explain=False, weights=weights)
        rows.append(
            {
                "case": case.name,
                "label": pred.label,
                "p_true": pred.probabilities[label],
                "probabilities": pred.probabilities,
                "modality": pred.modality,
                "tumour_ml": pred.tumour_ml,
                "slices": len(pred.slices),
                "flags": list(pred.flags),
                "disagreement": pred.disagreement,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    counts = {c: sum(r["label"] == c for r in rows) for c in CLASSES}
    n = len(rows)
    return {
        "n": n,
        "true_label": label,
        "correct": counts[label],
        "accuracy": counts[label] / n,
        "predicted": counts,
        "mean_p_true": sum(r["p_true"] for r in rows) / n,
        "flagged": sum(bool(r["flags"]) for r in rows),
        "without": sorted(m.value for m in dropped),
        "path": PATH_DESCRIPTION,
        "seconds_per_case": (time.perf_counter() - t_all) / n,
        "cases": rows,
    }
