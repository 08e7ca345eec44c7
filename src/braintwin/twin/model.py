"""The twin's model state: treatment plan, posterior history, forecasts and their scores.

Everything is stored as artifacts of the patient, so the full history survives restarts:

- ``plan``: the treatment plan (dates shifted like every stored date).
- ``posterior``: each calibration / assimilation result (the newest one is the twin's state).
- ``forecast``: each forecast made, with its probability maps and volume bands.
- ``forecast_score``: when a visit arrives, the forecast the twin would have made for that date
  from its previous state is scored against the new segmentation (Dice, volume error), *before*
  the visit is assimilated — an honest, prospective check of the twin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from braintwin.errors import CalibrationError, NotFoundError
from braintwin.types import Region, TreatmentPlan, region_mask

if TYPE_CHECKING:
    from braintwin.calibrate import Forecast, Posterior
    from braintwin.twin.twin import Twin

__all__ = [
    "UpdateResult",
    "calibrate_twin",
    "forecast_scores",
    "forecast_twin",
    "latest_posterior",
    "load_plan",
    "save_plan",
    "update_after_visit",
]

Progress = Callable[[str, float], None]
DEFAULT_HORIZONS_DAYS = (90,)


@dataclass
class UpdateResult:
    """What happened to the twin's model when a visit arrived."""

    posterior: Posterior | None = None
    scores: list[dict[str, Any]] = field(default_factory=list)
    forecasts: list[Forecast] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def save_plan(twin: Twin, plan: TreatmentPlan) -> int:
    """Store ``plan`` (dates already shifted) as the twin's current treatment plan."""
    return twin.store.save_artifact(twin.id, "plan", plan.model_dump(mode="json"))


def load_plan(twin: Twin) -> TreatmentPlan | None:
    """The twin's current treatment plan, or ``None`` (untreated growth)."""
    art = twin.store.latest_artifact(twin.id, "plan")
    return TreatmentPlan.model_validate(art.payload) if art else None


def latest_posterior(twin: Twin) -> Posterior | None:
    """The twin's newest posterior (its current state), or ``None`` before calibration."""
    from braintwin.calibrate import Posterior

    art = twin.store.latest_artifact(twin.id, "posterior")
    return Posterior.from_json(art.payload, art.volumes) if art else None


def _segmented(twin: Twin) -> list[tuple[dt.date, Any]]:
    out = []
    for date in twin.visit_dates():
        v = twin.visit(date)
        if v.segmentation is not None:
            out.append((date, v.segmentation))
    return out


def _store_posterior(twin: Twin, post: Posterior) -> None:
    payload, vols = post.to_json()
    twin.store.save_artifact(twin.id, "posterior", payload, visit_date=post.last_date, volumes=vols)


def calibrate_twin(
    twin: Twin, *, plan: TreatmentPlan | None = None, progress: Progress | None = None
) -> Posterior:
    """Calibrate the growth model to all segmented visits and store the posterior."""
    from braintwin.calibrate import calibrate

    visits = _segmented(twin)
    if not visits:
        raise NotFoundError(
            "no segmented visit to calibrate on", "run `braintwin segment ID` first"
        )
    brain = twin.visit(visits[0][0]).brain_mask
    if brain is None:
        raise CalibrationError("the first visit has no brain mask", "re-ingest the visit")
    post = calibrate(visits, brain, plan=plan or load_plan(twin), progress=progress)
    _store_posterior(twin, post)
    return post


def forecast_twin(
    twin: Twin,
    date: dt.date,
    *,
    plan: TreatmentPlan | None = None,
    credibility: float = 0.5,
    store: bool = True,
    posterior: Posterior | None = None,
    progress: Progress | None = None,
) -> Forecast:
    """Forecast the tumour at ``date`` (shifted) from ``posterior`` (default: the twin's
    current one, calibrated first if there is none)."""
    from braintwin.calibrate import forecast

    post = posterior or latest_posterior(twin) or calibrate_twin(twin, plan=plan, progress=progress)
    fc = forecast(
        post, None, None, date, plan or load_plan(twin), credibility=credibility, progress=progress
    )
    if store:
        payload, vols = fc.to_json()
        twin.store.save_artifact(
            twin.id, "forecast", payload, visit_date=post.last_date, volumes=vols
        )
    return fc


def _score(fc: Forecast, seg: Any) -> dict[str, Any]:
    """Dice and volume error of a forecast's enhancing mask against an observed segmentation."""
    from braintwin.segment.metrics import dice

    observed = region_mask(seg.data, Region.ET)
    pred_mask = fc.masks["enhancing"].data.astype(bool)
    vox_ml = seg.voxel_volume_mm3 / 1000.0
    obs_ml = float(observed.sum()) * vox_ml
    median = fc.volume_ml["enhancing"]["q50"]
    pred_ml = float(np.asarray(median)[-1])
    return {
        "forecast_from": str(fc.start),
        "target_date": str(fc.date),
        "source": fc.source,
        "dice_enhancing": round(dice(pred_mask, observed), 4),
        "observed_enhancing_ml": round(obs_ml, 3),
        "predicted_enhancing_ml_median": round(pred_ml, 3),
        "volume_error_ml": round(pred_ml - obs_ml, 3),
    }


def forecast_scores(twin: Twin) -> list[dict[str, Any]]:
    """Every stored forecast-versus-observed score, oldest first."""
    return [a.payload for a in twin.store.artifacts(twin.id, "forecast_score", load_volumes=False)]


def update_after_visit(
    twin: Twin,
    date: dt.date,
    *,
    horizons_days: tuple[int, ...] = DEFAULT_HORIZONS_DAYS,
    progress: Progress | None = None,
) -> UpdateResult:
    """Bring the model up to date after the visit on ``date`` was stored and segmented.

    1. If the twin had a posterior from earlier visits, forecast this visit's date from it and
       store the score against what was observed (prospective check).
    2. Assimilate the visit (the previous posterior becomes the prior), or calibrate from
       scratch when there is no earlier posterior.
    3. Forecast ``horizons_days`` ahead of the visit and store the forecasts.
    """
    from braintwin.calibrate import assimilate

    result = UpdateResult()
    visit = twin.visit(date)
    if visit.segmentation is None:
        result.notes.append("visit not segmented: the model was not updated")
        return result
    previous = latest_posterior(twin)
    plan = load_plan(twin)
    if previous is not None and previous.last_date < date:
        blind = forecast_twin(twin, date, plan=plan, store=False, posterior=previous)
        score = _score(blind, visit.segmentation)
        twin.store.save_artifact(twin.id, "forecast_score", score, visit_date=date)
        result.scores.append(score)
        post = assimilate(previous, (date, visit.segmentation), plan=plan, progress=progress)
        _store_posterior(twin, post)
    else:
        post = calibrate_twin(twin, plan=plan, progress=progress)
    result.posterior = post
    result.notes += list(post.notes)
    for days in horizons_days:
        target = date + dt.timedelta(days=days)
        result.forecasts.append(
            forecast_twin(twin, target, plan=plan, posterior=post, progress=progress)
        )
    return result
