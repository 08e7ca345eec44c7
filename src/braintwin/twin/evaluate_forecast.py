"""``braintwin eval forecast``: score the twin's own forecasts on real follow-up pairs.

One path: each pair of the progression layout (``NN/{Pre,Post}_{Scan_T1,Mask}.nii.gz`` plus
``supplementary.csv``) becomes two visits of one patient in a fresh, temporary store, ingested by
:meth:`Twin.add_visit` exactly as ``braintwin ingest`` does (read with the user's ``--spacing``,
preprocess, register the follow-up to the first visit, store, update the model). When the
follow-up arrives the twin scores the forecast it makes from its baseline state alone
(``forecast_score``); that stored score is the twin's result here. The baselines are scored on
the twin's grid with the twin's stored segmentations (:mod:`braintwin.calibrate.evaluation`).

Segmentations: ``expert`` ingests each visit's mask as the visit's segmentation (``--seg``; a
binary mask is the enhancing tumour, label 4, so the tumour core TC = {1, 4} equals the mask);
``network`` ignores the masks and lets the twin segment the T1ce.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.calibrate.baselines import dice
from braintwin.calibrate.evaluation import PairOutcome, TwinScore, score_outcomes
from braintwin.calibrate.progression import PairFiles, pair_files
from braintwin.errors import BraintwinError, InputError
from braintwin.twin.model import ForecastScore
from braintwin.types import Modality, Region, Visit, region_mask

__all__ = ["SEGMENT_MODES", "evaluate_forecast", "run_pair"]

Progress = Callable[[str, float], None]
SEGMENT_MODES = ("expert", "network")
REGION_NOTES = {
    "expert": "the masks are binary enhancing-tumour masks (ingested as label 4), so the "
    "observed TC and ET both equal the mask; the model's enhancing compartment predicts TC; "
    "no necrosis or edema label is available",
    "network": "labels predicted by the twin's segmentation network from the T1ce alone",
}


def _twin_score(scores: list[ForecastScore], pair_id: str, flags: list[str]) -> TwinScore:
    """The twin's stored prospective score of its T1ce-visible compartment (vs TC)."""
    mine = [s for s in scores if s.compartment == "enhancing"]
    if not mine:
        raise BraintwinError(
            f"pair {pair_id}: the twin stored no forecast score for the follow-up",
            "; ".join(flags) or "the visits were not segmented or the model was not updated",
        )
    s = mine[-1]
    return TwinScore(s.dice, s.predicted_ml_median, s.observed_ml, s.source, s.region)


def _region(visit: Visit, region: str) -> np.ndarray:
    if visit.segmentation is None:
        raise BraintwinError(f"visit of {visit.date} has no segmentation")
    return region_mask(np.asarray(visit.segmentation.data), Region(region))


def _alignment(visit: Visit) -> dict[str, Any]:
    """How far the twin's ingest moved the follow-up onto the baseline (rigid)."""
    from braintwin.preprocess.registration import transform_magnitude

    matrix = visit.meta.get("transforms", {}).get("reference_matrix")
    if matrix is None:
        return {"method": "none"}
    vol = next(iter(visit.volumes.values()))
    shift, angle = transform_magnitude(np.asarray(matrix, float), vol)
    return {
        "method": "twin ingest: rigid registration to the first visit",
        "rms_shift_mm": round(shift, 2),
        "rotation_deg": round(angle, 2),
    }


def run_pair(
    files: PairFiles,
    *,
    spacing: tuple[float, float, float] | None,
    segment: str = "expert",
    progress: Progress | None = None,
) -> PairOutcome:
    """Ingest one pair as two visits of a new twin in a temporary store; read its score."""
    from braintwin.store import Store
    from braintwin.twin.ingest import IngestOptions
    from braintwin.twin.model import forecast_scores
    from braintwin.twin.twin import Twin

    if segment not in SEGMENT_MODES:
        raise InputError(f"unknown --segment {segment!r}", f"use one of {SEGMENT_MODES}")
    visits = (
        (files.pre_scan, files.pre_mask, files.pre_date),
        (files.post_scan, files.post_mask, files.post_date),
    )
    with tempfile.TemporaryDirectory(prefix="bt-evalfc-", ignore_cleanup_errors=True) as tmp:
        # An explicit SQLite URL: a user's $BRAINTWIN_DB_URL must never receive these visits.
        home = Path(tmp)
        with Store.open(url=f"sqlite:///{home / 'braintwin.db'}", home=home) as store:
            twin = Twin.open(f"eval-forecast-{files.pair_id}", store=store, create=True)
            flags: list[str] = []
            for k, (scan, mask, date) in enumerate(visits):
                options = IngestOptions(
                    modality=Modality.T1CE,
                    spacing_override=spacing,
                    segmentation=mask if segment == "expert" else None,
                    classify=False,  # the tumour type plays no part in the growth forecast
                )
                sub = (lambda m, f, k=k: progress(m, (k + f) / 2)) if progress is not None else None
                result = twin.add_visit(scan, date, options=options, progress=sub)
                flags += result.flags
            score = _twin_score(forecast_scores(twin), files.pair_id, flags)
            first, second = (twin.visit(d) for d in twin.visit_dates())
            seg = first.segmentation
            assert seg is not None
            details = {
                "input_spacing_mm": list(spacing) if spacing is not None else "header",
                "segmentation": segment,
                "alignment": _alignment(second),
                "flags": flags,
            }
            return PairOutcome(
                files.pair_id,
                files.interval_days,
                _region(first, score.region),
                _region(second, score.region),
                tuple(float(v) for v in seg.spacing),  # type: ignore[arg-type]
                score,
                details,
            )


def evaluate_forecast(
    root: Path | str,
    *,
    spacing: tuple[float, float, float] | None,
    segment: str = "expert",
    loo: bool = False,
    rate_mm_per_day: float | None = None,
    pairs: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every pair under ``root`` through the twin, then the scores of all methods.

    Args:
        root: folder in the progression layout.
        spacing: voxel size (mm) overriding the headers (``None``: trust them).
        segment: ``"expert"`` (the masks are the visits' segmentations) or ``"network"``.
        loo: fit the uniform-expansion rate on the other pairs (else ``rate_mm_per_day``).
        pairs: only these pair folders (default: all).
        progress: callback ``(message, fraction)``.
    """
    if segment not in SEGMENT_MODES:
        raise InputError(f"unknown --segment {segment!r}", f"use one of {', '.join(SEGMENT_MODES)}")
    files = pair_files(root, pairs)
    if loo and len(files) < 2:  # say so before the long ingests, not after
        raise InputError("leave-one-out needs at least 2 pairs", "drop --loo or give more pairs")
    t0 = time.perf_counter()
    outcomes = []
    for i, f in enumerate(files):
        sub = (
            (lambda m, x, i=i, f=f: progress(f"pair {f.pair_id}: {m}", (i + x) / len(files)))
            if progress is not None
            else None
        )
        outcome = run_pair(f, spacing=spacing, segment=segment, progress=sub)
        outcomes.append(outcome)
        if progress is not None:  # a long run: show each pair's result as it comes
            progress(
                f"pair {f.pair_id} done: twin Dice {outcome.twin.dice:.3f}, no_growth Dice "
                f"{dice(outcome.baseline, outcome.follow_up):.3f}",
                (i + 1) / len(files),
            )
    result = score_outcomes(outcomes, rate_mm_per_day=rate_mm_per_day, loo=loo)
    regions = sorted({o.twin.region for o in outcomes})
    head = {
        "n": result.pop("n"),
        "mode": "leave-one-out" if loo else "shipped expansion rate",
        "path": "each pair ingested as two visits of a fresh twin (Twin.add_visit, as "
        "`braintwin ingest`); twin = its stored prospective forecast_score",
        "spacing_mm": list(spacing) if spacing is not None else "header",
        "segmentation": segment,
        "observed_region": ", ".join(regions),
        "region_note": REGION_NOTES[segment],
        "twin_fitted_on_these_pairs": False,
        "seconds_per_pair": round((time.perf_counter() - t0) / len(files), 1),
    }
    return {**head, **result}
