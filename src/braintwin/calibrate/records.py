"""``Posterior`` and ``Forecast`` records and their JSON (+ Volumes) serialisation.

Both serialise as ``(payload: dict, volumes: dict[str, Volume])`` so the store can keep the
JSON in a row and the volumes as content-addressed NIfTI files
(``store.save_artifact(patient, date, kind, payload, volumes)``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from braintwin.calibrate.likelihood import ObservationModel
from braintwin.calibrate.priors import PARAM_UNITS, Prior
from braintwin.errors import InputError
from braintwin.types import TreatmentPlan, Volume

__all__ = ["Forecast", "Posterior", "summarise_samples"]


def summarise_samples(names: tuple[str, ...], samples: np.ndarray) -> dict[str, dict[str, Any]]:
    """Median and central 50 % / 90 % intervals per parameter (natural units)."""
    out: dict[str, dict[str, Any]] = {}
    for i, n in enumerate(names):
        q = np.quantile(samples[:, i], [0.05, 0.25, 0.5, 0.75, 0.95])
        out[n] = {
            "median": float(q[2]),
            "interval_50": [float(q[1]), float(q[3])],
            "interval_90": [float(q[0]), float(q[4])],
            "unit": PARAM_UNITS.get(n, ""),
        }
    return out


@dataclass
class Posterior:
    """Samples of the growth parameters given a patient's visits.

    Attributes:
        names: parameter names (columns of ``samples``), e.g. ``("D_w", "rho")`` (+ ``"alpha"``).
        samples: (n, k) draws in natural units (D_w mm²/day, rho 1/day, alpha 1/Gy).
        source: ``"mcmc"`` (fitted to 2+ visits) or ``"prior"`` (one visit: the prior itself).
        prior: the prior that was used.
        observation: the observation model (thresholds, noise scales).
        visit_dates: dates of the visits used, ascending.
        last_seg: segmentation at the last visit (forecasts and assimilation start from it).
        brain_mask: the growth domain (boolean Volume on the grid of ``last_seg``).
        diagnostics: sampler figures (acceptance, autocorrelation, ESS, seconds, grid).
        notes: human-readable messages (e.g. "one visit only: forecast from the prior").
        plan: treatment plan that was applied between the visits, if any.
    """

    names: tuple[str, ...]
    samples: np.ndarray
    source: str
    prior: Prior
    observation: ObservationModel
    visit_dates: list[dt.date]
    last_seg: Volume
    brain_mask: Volume
    diagnostics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plan: TreatmentPlan | None = None

    @property
    def last_date(self) -> dt.date:
        return self.visit_dates[-1]

    @property
    def log_samples(self) -> np.ndarray:
        return np.log(self.samples)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Median and 50 %/90 % credible intervals per parameter (natural units)."""
        return summarise_samples(self.names, self.samples)

    def to_json(self) -> tuple[dict[str, Any], dict[str, Volume]]:
        """(JSON-able payload, volumes) for storage; inverse of :meth:`from_json`."""
        payload = {
            "kind": "posterior",
            "names": list(self.names),
            "samples": np.round(self.samples, 8).tolist(),
            "source": self.source,
            "summary": self.summary(),
            "prior": self.prior.to_dict(),
            "observation": self.observation.to_dict(),
            "visit_dates": [d.isoformat() for d in self.visit_dates],
            "diagnostics": _jsonable(self.diagnostics),
            "notes": list(self.notes),
            "plan": None if self.plan is None else self.plan.model_dump(mode="json"),
        }
        return payload, {"last_seg": self.last_seg, "brain_mask": self.brain_mask}

    @classmethod
    def from_json(cls, payload: dict[str, Any], volumes: dict[str, Volume]) -> Posterior:
        try:
            return cls(
                names=tuple(payload["names"]),
                samples=np.asarray(payload["samples"], float),
                source=str(payload["source"]),
                prior=Prior.from_dict(payload["prior"]),
                observation=ObservationModel(**payload["observation"]),
                visit_dates=[dt.date.fromisoformat(d) for d in payload["visit_dates"]],
                last_seg=volumes["last_seg"],
                brain_mask=volumes["brain_mask"],
                diagnostics=dict(payload.get("diagnostics", {})),
                notes=list(payload.get("notes", [])),
                plan=None if payload.get("plan") is None else TreatmentPlan(**payload["plan"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed stored posterior: {exc}") from exc


@dataclass
class Forecast:
    """A probabilistic forecast of the tumour at ``date`` from ``start``.

    Attributes:
        start, date: the forecast runs from ``start`` (last visit) to ``date``.
        probability: region (``"enhancing"``, ``"flair"``) -> Volume (PROBABILITY, 0-1): the
            fraction of posterior samples in which the voxel is inside that region at ``date``.
        masks: region -> predicted boolean mask at ``credibility`` (probability ≥ credibility).
        credibility: probability level used for ``masks``.
        days: (m,) forecast times in days after ``start``.
        volume_ml: region -> {"q05","q25","q50","q75","q95"} -> (m,) volumes in mL.
        progression: time-to-progression summary (RANO-style volume threshold).
        source: ``"posterior"`` or ``"prior"``.
        notes: human-readable messages.
    """

    start: dt.date
    date: dt.date
    probability: dict[str, Volume]
    masks: dict[str, Volume]
    credibility: float
    days: np.ndarray
    volume_ml: dict[str, dict[str, np.ndarray]]
    progression: dict[str, Any]
    source: str
    n_samples: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> tuple[dict[str, Any], dict[str, Volume]]:
        payload = {
            "kind": "forecast",
            "start": self.start.isoformat(),
            "date": self.date.isoformat(),
            "credibility": self.credibility,
            "days": self.days.tolist(),
            "volume_ml": {
                r: {k: np.round(v, 4).tolist() for k, v in q.items()}
                for r, q in self.volume_ml.items()
            },
            "progression": _jsonable(self.progression),
            "source": self.source,
            "n_samples": self.n_samples,
            "notes": list(self.notes),
        }
        vols = {f"probability_{r}": v for r, v in self.probability.items()}
        vols.update({f"mask_{r}": v for r, v in self.masks.items()})
        return payload, vols

    @classmethod
    def from_json(cls, payload: dict[str, Any], volumes: dict[str, Volume]) -> Forecast:
        try:
            return cls(
                start=dt.date.fromisoformat(payload["start"]),
                date=dt.date.fromisoformat(payload["date"]),
                probability={
                    k.removeprefix("probability_"): v
                    for k, v in volumes.items()
                    if k.startswith("probability_")
                },
                masks={
                    k.removeprefix("mask_"): v for k, v in volumes.items() if k.startswith("mask_")
                },
                credibility=float(payload["credibility"]),
                days=np.asarray(payload["days"], float),
                volume_ml={
                    r: {k: np.asarray(v, float) for k, v in q.items()}
                    for r, q in payload["volume_ml"].items()
                },
                progression=dict(payload["progression"]),
                source=str(payload["source"]),
                n_samples=int(payload["n_samples"]),
                notes=list(payload.get("notes", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed stored forecast: {exc}") from exc


def _jsonable(obj: Any) -> Any:
    """Recursively convert numpy values to JSON types; non-finite floats become None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer | int) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, np.floating | float):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, dt.date):
        return obj.isoformat()
    json.dumps(obj)  # raises TypeError early for anything exotic
    return obj
