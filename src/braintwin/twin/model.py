"""The twin's model state: treatment plan, posterior history, forecasts and their scores.

Everything is stored as artifacts of the patient, so the full history survives restarts:

- ``plan``: the treatment plan (dates shifted like every stored date).
- ``posterior``: each calibration / assimilation result (the newest one is the twin's state);
  its payload also records which visits (date and segmentation fingerprint) it has seen, so
  :func:`braintwin.twin.state.model_status` can tell when the model is older than the visits.
- ``forecast``: each forecast made, with its probability maps and volume bands.
- ``forecast_score``: when a visit arrives, the forecast the twin would have made for that date
  from its previous state is scored against the new segmentation (Dice, volume error), *before*
  the visit is assimilated — an honest, prospective check of the twin. Each model compartment
  is scored against the observed region it predicts (``growth.COMPARTMENT_REGIONS``: the
  T1ce-visible compartment against the tumour core TC, the FLAIR-visible one against WT).

This module knows the store and the stages, never the ``Twin`` facade: every function takes a
:class:`TwinRef` (anything with ``store`` and ``id``), so the facade composes the model state
and not the other way round.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from braintwin.errors import CalibrationError, NotFoundError
from braintwin.types import TreatmentPlan, Visit, Volume, region_mask

if TYPE_CHECKING:
    from braintwin.calibrate import Forecast, Posterior
    from braintwin.store import Store

__all__ = [
    "ForecastScore",
    "TwinRef",
    "UpdateResult",
    "calibrate_twin",
    "forecast_scores",
    "forecast_twin",
    "latest_posterior",
    "load_plan",
    "patient_lock",
    "save_plan",
    "segmentation_fingerprint",
    "update_after_visit",
    "update_model",
]

Progress = Callable[[str, float], None]
DEFAULT_HORIZONS_DAYS = (90,)


class TwinRef(Protocol):
    """What the model state needs of a twin: its store and its pseudonym."""

    @property
    def store(self) -> Store: ...

    @property
    def id(self) -> str: ...


@dataclass(frozen=True)
class ForecastScore:
    """A prospective forecast of one compartment scored against the observed region.

    Attributes:
        forecast_from: date (shifted) of the state the forecast was made from.
        target_date: the new visit's date (shifted).
        compartment: model compartment (``"enhancing"`` = T1ce-visible, ``"flair"``).
        region: the observed region it predicts (``"TC"`` or ``"WT"``).
        dice: Dice of the forecast's median mask against the observed region.
        observed_ml / predicted_ml_median: volumes (mL); ``volume_error_ml`` = predicted − observed.
        source: where the forecasting state came from (``"prior"``, ``"calibrated"``, ...).
        plan: name of the treatment plan the forecast assumed (``"none"`` = untreated).
        legacy: read from a record stored before like-with-like scoring, which compared the
            T1ce-visible prediction (tumour-core sized) with the enhancing rim ET alone.
    """

    forecast_from: str
    target_date: str
    compartment: str
    region: str
    dice: float
    observed_ml: float
    predicted_ml_median: float
    volume_error_ml: float
    source: str
    plan: str
    legacy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ForecastScore:
        """Read a stored score (also the pre-0.2 form, which compared against ET only)."""
        if "region" in payload:
            region = str(payload["region"])
            defaults = {
                "compartment": "flair" if region == "WT" else "enhancing",
                "source": "",
                "plan": "unknown",
            }
            known = {k: payload[k] for k in cls.__dataclass_fields__ if k in payload}
            return cls(**{**defaults, **known})
        return cls(
            forecast_from=str(payload["forecast_from"]),
            target_date=str(payload["target_date"]),
            compartment="enhancing",
            region="ET",
            dice=float(payload["dice_enhancing"]),
            observed_ml=float(payload["observed_enhancing_ml"]),
            predicted_ml_median=float(payload["predicted_enhancing_ml_median"]),
            volume_error_ml=float(payload["volume_error_ml"]),
            source=str(payload.get("source", "")),
            plan="unknown",
            legacy=True,
        )

    def line(self) -> str:
        """One human line, naming the compartment and the region it was compared with."""
        from braintwin.report.naming import compartment_label

        return (
            f"forecast for {self.target_date} made from {self.forecast_from} ({self.plan} plan): "
            f"{compartment_label(self.compartment)} vs observed {self.region}: "
            f"Dice {self.dice:.2f}, "
            f"{self.predicted_ml_median:.1f} mL predicted vs {self.observed_ml:.1f} mL observed"
        )


@dataclass
class UpdateResult:
    """What happened to the twin's model when a visit arrived."""

    posterior: Posterior | None = None
    scores: list[ForecastScore] = field(default_factory=list)
    forecasts: list[Forecast] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def patient_lock(ref: TwinRef) -> AbstractContextManager[None]:
    """The store's per-patient write lock (read state → compute → write without losing an
    update to a concurrent writer); re-entrant within a thread, so the twin's steps may nest
    (an ingest that resumes an update)."""
    return ref.store.patient_lock(ref.id)


def segmentation_fingerprint(seg: Volume) -> str:
    """A short content hash of a segmentation's labels, to notice re-segmentation.

    Only the label values and the shape count (as uint8): the affine goes through float32 in
    the NIfTI files, so hashing it would make a stored copy differ from the one in memory.
    """
    h = hashlib.sha256(str(seg.shape).encode())
    h.update(np.ascontiguousarray(seg.data, dtype=np.uint8).tobytes())
    return h.hexdigest()[:16]


def save_plan(ref: TwinRef, plan: TreatmentPlan) -> int:
    """Store ``plan`` (dates already shifted) as the twin's current treatment plan."""
    return ref.store.save_artifact(ref.id, "plan", plan.model_dump(mode="json"))


def load_plan(ref: TwinRef) -> TreatmentPlan | None:
    """The twin's current treatment plan, or ``None`` (untreated growth)."""
    art = ref.store.latest_artifact(ref.id, "plan", load_volumes=False)
    return TreatmentPlan.model_validate(art.payload) if art else None


def plan_name(plan: TreatmentPlan | None) -> str:
    return "none" if plan is None else plan.name


def latest_posterior(ref: TwinRef) -> Posterior | None:
    """The twin's newest posterior (its current state), or ``None`` before calibration."""
    from braintwin.calibrate import Posterior

    art = ref.store.latest_artifact(ref.id, "posterior")
    return Posterior.from_json(art.payload, art.volumes) if art else None


def _segmented(ref: TwinRef) -> Iterator[Visit]:
    from braintwin.twin.state import SEGMENTATION_ROLE

    for date in ref.store.visit_dates(ref.id):
        if SEGMENTATION_ROLE not in ref.store.visit_record(ref.id, date)["volumes"]:
            continue
        visit = ref.store.load_visit(ref.id, date)
        if visit.segmentation is not None:
            yield visit


def _store_posterior(ref: TwinRef, post: Posterior, seen: dict[str, str]) -> None:
    payload, vols = post.to_json()
    payload["segmentations_seen"] = seen
    ref.store.save_artifact(ref.id, "posterior", payload, visit_date=post.last_date, volumes=vols)


def _seen_by(ref: TwinRef) -> dict[str, str]:
    art = ref.store.latest_artifact(ref.id, "posterior", load_volumes=False)
    return dict(art.payload.get("segmentations_seen", {})) if art else {}


def calibrate_twin(
    ref: TwinRef, *, plan: TreatmentPlan | None = None, progress: Progress | None = None
) -> Posterior:
    """Calibrate the growth model to all segmented visits and store the posterior."""
    from braintwin.calibrate import calibrate

    visits = list(_segmented(ref))
    if not visits:
        raise NotFoundError(
            "no segmented visit to calibrate on",
            "run `braintwin segment ID`, or ingest with `--seg FILE`",
        )
    brain = visits[0].brain_mask
    if brain is None:
        raise CalibrationError("the first visit has no brain mask", "re-ingest the visit")
    pairs = [(v.date, v.segmentation) for v in visits if v.segmentation is not None]
    post = calibrate(pairs, brain, plan=plan or load_plan(ref), progress=progress)
    seen = {str(d): segmentation_fingerprint(s) for d, s in pairs}
    _store_posterior(ref, post, seen)
    return post


def forecast_twin(
    ref: TwinRef,
    date: dt.date,
    *,
    plan: TreatmentPlan | None = None,
    use_stored_plan: bool = True,
    plan_origin: str | None = None,
    credibility: float = 0.5,
    store: bool = True,
    posterior: Posterior | None = None,
    progress: Progress | None = None,
) -> Forecast:
    """Forecast the tumour at ``date`` (shifted) from ``posterior`` (default: the twin's
    current one, calibrated first if there is none) under ``plan``.

    ``plan=None`` means the twin's stored plan when ``use_stored_plan`` (the default), else
    untreated growth. The stored forecast records the plan it assumed and ``plan_origin``.
    """
    from braintwin.calibrate import forecast

    if plan is None and use_stored_plan:
        plan = load_plan(ref)
        plan_origin = plan_origin or "the twin's stored plan"
    post = posterior or latest_posterior(ref) or calibrate_twin(ref, plan=plan, progress=progress)
    fc = forecast(post, None, None, date, plan, credibility=credibility, progress=progress)
    fc.notes.append(f"assumed treatment plan: {plan_name(plan)}")
    if store:
        payload, vols = fc.to_json()
        payload["plan"] = None if plan is None else plan.model_dump(mode="json")
        payload["plan_origin"] = plan_origin or "given"
        ref.store.save_artifact(
            ref.id, "forecast", payload, visit_date=post.last_date, volumes=vols
        )
    return fc


def _observable(seg: Volume) -> set[str]:
    """Regions the visit could show (a visit without T1ce cannot show its core/enhancement)."""
    listed = seg.meta.get("observable_regions")
    return set(listed) if listed else {"WT", "TC", "ET"}


def score_forecast(fc: Forecast, seg: Volume, plan: TreatmentPlan | None) -> list[ForecastScore]:
    """Score each compartment of ``fc`` against the observed region it predicts."""
    from braintwin.calibrate.forward import seg_labels
    from braintwin.growth import COMPARTMENT_REGIONS
    from braintwin.segment.metrics import dice

    labels = seg_labels(seg)
    edema = bool(np.any(region_mask(labels, "WT") & ~region_mask(labels, "TC")))
    vox_ml = seg.voxel_volume_mm3 / 1000.0
    scores = []
    for compartment, region in COMPARTMENT_REGIONS.items():
        if compartment not in fc.masks or region.value not in _observable(seg):
            continue
        if compartment == "flair" and not edema:  # a binary enhancing mask shows no FLAIR
            continue
        observed = region_mask(labels, region)
        pred_ml = float(np.asarray(fc.volume_ml[compartment]["q50"])[-1])
        obs_ml = float(observed.sum()) * vox_ml
        scores.append(
            ForecastScore(
                forecast_from=str(fc.start),
                target_date=str(fc.date),
                compartment=compartment,
                region=region.value,
                dice=round(dice(fc.masks[compartment].data.astype(bool), observed), 4),
                observed_ml=round(obs_ml, 3),
                predicted_ml_median=round(pred_ml, 3),
                volume_error_ml=round(pred_ml - obs_ml, 3),
                source=fc.source,
                plan=plan_name(plan),
            )
        )
    return scores


def forecast_scores(ref: TwinRef) -> list[ForecastScore]:
    """Every stored forecast-versus-observed score, oldest first."""
    arts = ref.store.artifacts(ref.id, "forecast_score", load_volumes=False)
    return [ForecastScore.from_dict(a.payload) for a in arts]


def update_after_visit(
    ref: TwinRef,
    date: dt.date,
    *,
    visit: Visit | None = None,
    horizons_days: tuple[int, ...] = DEFAULT_HORIZONS_DAYS,
    progress: Progress | None = None,
) -> UpdateResult:
    """Bring the model up to date after the visit on ``date`` was stored and segmented.

    1. If the twin had a posterior from earlier visits, forecast this visit's date from it and
       store the score against what was observed (prospective check).
    2. Assimilate the visit (the previous posterior becomes the prior), or calibrate from
       scratch when there is no earlier posterior.
    3. Forecast ``horizons_days`` ahead of the visit and store the forecasts.

    ``visit``: the visit already in memory (ingest hands it over instead of re-reading it).
    """
    from braintwin.calibrate import assimilate

    result = UpdateResult()
    visit = visit if visit is not None else ref.store.load_visit(ref.id, date)
    if visit.segmentation is None:
        result.notes.append("visit not segmented: the model was not updated")
        return result
    previous = latest_posterior(ref)
    plan = load_plan(ref)
    if previous is not None and previous.last_date < date:
        blind = forecast_twin(ref, date, plan=plan, store=False, posterior=previous)
        for score in score_forecast(blind, visit.segmentation, plan):
            ref.store.save_artifact(ref.id, "forecast_score", score.to_dict(), visit_date=date)
            result.scores.append(score)
        post = assimilate(previous, (date, visit.segmentation), plan=plan, progress=progress)
        seen = {**_seen_by(ref), str(date): segmentation_fingerprint(visit.segmentation)}
        _store_posterior(ref, post, seen)
    else:
        post = calibrate_twin(ref, plan=plan, progress=progress)
    result.posterior = post
    result.notes += list(post.notes)
    for days in horizons_days:
        target = date + dt.timedelta(days=days)
        result.forecasts.append(
            forecast_twin(ref, target, plan=plan, posterior=post, progress=progress)
        )
    return result


def update_model(ref: TwinRef, *, progress: Progress | None = None) -> UpdateResult:
    """Resume: bring a stale model up to date with every stored visit.

    Visits newer than what the newest posterior has seen are assimilated one by one in date
    order (each scored prospectively first); if an already-seen visit changed (re-segmented,
    deleted, re-dated), the model is re-calibrated from scratch on all visits.
    """
    from braintwin.twin.state import model_status, segmentation_fingerprints

    status = model_status(ref)
    if not status.stale:
        return UpdateResult(notes=["the model is up to date with every visit"])
    seen = _seen_by(ref)
    segmented = segmentation_fingerprints(ref)
    changed = [d for d, fp in seen.items() if fp and segmented.get(d) not in (None, fp)]
    gone = [d for d in seen if d not in segmented]
    unseen = sorted(d for d in segmented if d not in seen)
    only_newer = bool(seen) and all(d > max(seen) for d in unseen)
    if only_newer and not changed and not gone and latest_posterior(ref) is not None:
        result = UpdateResult()
        for d in unseen:  # assimilate in date order, each scored prospectively first
            step = update_after_visit(ref, dt.date.fromisoformat(d), progress=progress)
            result.scores += step.scores
            result.forecasts += step.forecasts
            result.notes = step.notes
            result.posterior = step.posterior
        return result
    post = calibrate_twin(ref, progress=progress)
    last = post.last_date
    fcs = [
        forecast_twin(ref, last + dt.timedelta(days=d), posterior=post, progress=progress)
        for d in DEFAULT_HORIZONS_DAYS
    ]
    return UpdateResult(
        posterior=post,
        forecasts=fcs,
        notes=["re-calibrated on every visit (a visit seen earlier had changed)", *post.notes],
    )
