"""The patient page's data in one JSON document: visits with measurements and RANO-style
response, the treatment timeline, forecasts (horizon, plan, volume bands), the posterior as
histograms and stored plan comparisons as progression-free curves.

Only reads and reshapes stored records (no model runs): the numbers are the twin's own.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from braintwin.report.naming import plan_summary
from braintwin.store import Store
from braintwin.types import TreatmentPlan

__all__ = ["forecast_entry", "page_data", "pfs_curve", "posterior_entry", "treatment_entry"]

_RANO_REGIONS = ("WT", "TC", "ET")


def _response(series: list[Any]) -> dict[str, Any] | None:
    from braintwin.errors import BraintwinError
    from braintwin.measure import assess_response

    if len(series) < 2:
        return None
    try:
        resp = assess_response(series)["response"]
    except BraintwinError:
        return None
    return {
        "category": resp["category"],
        "compared_with": resp.get("compared_with"),
        "spd_change_percent": resp.get("spd_change_percent"),
        "wt_change_percent": resp.get("nonenhancing_change_percent"),
        "reasons": [str(r) for r in resp.get("reasons", [])],
    }


def _visits(store: Store, pid: str, volume_names: dict[str, list[str]]) -> list[dict[str, Any]]:
    from braintwin.measure import VisitMeasurements, stored_observable

    out, series = [], []
    for date in store.visit_dates(pid):
        rec = store.visit_record(pid, date)
        meta = rec["meta"] if isinstance(rec["meta"], dict) else {}
        seg = meta.get("segmentation") if isinstance(meta.get("segmentation"), dict) else {}
        meas = {
            r: {k: v for k, v in m.items() if isinstance(v, int | float | str) or v is None}
            for r, m in (rec["measurements"] or {}).items()
            if isinstance(m, dict) and r in _RANO_REGIONS
        }
        rano = None
        if rec["measurements"]:
            seen = stored_observable(meta, rec["volumes"])
            series.append(VisitMeasurements(str(date), rec["measurements"], seen))
            rano = _response(series)
        cls = rec.get("classification")
        out.append(
            {
                "date": str(date),
                "volumes": volume_names.get(str(date), []),
                "segmentation": (seg or {}).get("method"),
                "synthetic": bool(meta.get("synthetic")),
                "tumour_type": cls.get("label") if isinstance(cls, dict) else None,
                "measurements": meas,
                "rano": rano,
            }
        )
    return out


def treatment_entry(plan: TreatmentPlan | dict[str, Any] | None) -> dict[str, Any] | None:
    """A plan as dated events for the timeline: RT fractions and chemotherapy courses."""
    if plan is None:
        return None
    tp = plan if isinstance(plan, TreatmentPlan) else TreatmentPlan.model_validate(plan)

    def day(d: float) -> str:
        return (tp.start + dt.timedelta(days=math.floor(d))).isoformat()

    rt = tp.radiotherapy
    return {
        "name": tp.name,
        "summary": plan_summary(tp),
        "start": tp.start.isoformat(),
        "fractions": [{"date": day(f.day), "dose_gy": f.dose_gy} for f in rt.fractions]
        if rt
        else [],
        "chemo": [
            {"drug": c.drug, "start": day(c.start_day), "end": day(c.end_day)}
            for c in tp.chemotherapy
        ],
    }


def forecast_entry(art_id: int, payload: dict[str, Any], volumes: list[str]) -> dict[str, Any]:
    start = dt.date.fromisoformat(payload["start"])
    date = dt.date.fromisoformat(payload["date"])
    plan = payload.get("plan")
    return {
        "id": art_id,
        "start": start.isoformat(),
        "date": date.isoformat(),
        "days_ahead": (date - start).days,
        "credibility": payload.get("credibility"),
        "plan": {
            "name": plan.get("name") if isinstance(plan, dict) else "none",
            "summary": plan_summary(plan) if isinstance(plan, dict) else plan_summary(None),
            "origin": payload.get("plan_origin"),
        },
        "volumes": sorted(volumes),
        "days": payload.get("days", []),
        "bands": payload.get("volume_ml", {}),
        "source": payload.get("source"),
        "n_samples": payload.get("n_samples"),
        "progression": payload.get("progression"),
    }


def _log_histogram(x: np.ndarray, bins: int = 30) -> dict[str, list[float]]:
    x = x[np.isfinite(x) & (x > 0)]
    if x.size == 0:
        return {"edges": [1.0, 10.0], "counts": [0]}
    lo, hi = np.log10(x.min()), np.log10(x.max())
    if hi - lo < 1e-6:
        lo, hi = lo - 0.05, hi + 0.05
    counts, edges = np.histogram(np.log10(x), bins=bins, range=(lo, hi))
    return {"edges": [float(10**e) for e in edges], "counts": [int(c) for c in counts]}


def posterior_entry(payload: dict[str, Any]) -> dict[str, Any]:
    names = list(payload.get("names", []))
    samples = np.asarray(payload.get("samples", []), dtype=float).reshape(-1, len(names) or 1)
    return {
        "source": payload.get("source"),
        "visit_dates": payload.get("visit_dates", []),
        "summary": payload.get("summary", {}),
        "n_samples": int(samples.shape[0]),
        "histograms": {n: _log_histogram(samples[:, i]) for i, n in enumerate(names)},
    }


def pfs_curve(ttp_days: Sequence[float | None], horizon: float) -> dict[str, list[float]]:
    """Empirical progression-free probability: a step at each progression time; samples
    without progression (None) are censored at the horizon."""
    n = len(ttp_days)
    times = sorted(t for t in ttp_days if t is not None and t <= horizon)
    days, p = [0.0], [1.0]
    for i, t in enumerate(times, start=1):
        days.append(float(t))
        p.append(1.0 - i / n if n else 1.0)
    days.append(float(horizon))
    p.append(p[-1])
    return {"days": days, "p": p}


def _plans(store: Store, pid: str) -> list[dict[str, Any]]:
    out = []
    for kind in ("plan_comparison", "plan_optimisation"):
        for art in store.artifacts(pid, kind, load_volumes=False):
            p = art.payload
            horizon = float(p.get("horizon_days") or 0)
            ttp = p.get("ttp_samples_days") or {}
            out.append(
                {
                    "id": art.id,
                    "kind": kind,
                    "start": p.get("start"),
                    "horizon_days": horizon,
                    "n_samples": p.get("n_samples"),
                    "definition": p.get("definition"),
                    "plans": [
                        {k: v for k, v in s.items() if not isinstance(v, dict | list)}
                        for s in p.get("plans", [])
                        if isinstance(s, dict)
                    ],
                    "pfs": {name: pfs_curve(t, horizon) for name, t in ttp.items()},
                }
            )
    return sorted(out, key=lambda r: r["id"])


def page_data(
    store: Store,
    pid: str,
    volume_names: dict[str, list[str]],
    forecast_volumes: dict[int, list[str]],
    model: dict[str, Any],
) -> dict[str, Any]:
    """Everything the patient page draws except images (see the module docstring)."""
    forecasts = [
        forecast_entry(a.id, a.payload, forecast_volumes.get(a.id, []))
        for a in store.artifacts(pid, "forecast", load_volumes=False)
        if "start" in a.payload and "date" in a.payload
    ]
    post = store.latest_artifact(pid, "posterior", load_volumes=False)
    plan_art = store.latest_artifact(pid, "plan", load_volumes=False)
    plan = plan_art.payload if plan_art else None
    if plan is None and forecasts:  # the plan the newest forecast assumed
        newest = store.latest_artifact(pid, "forecast", load_volumes=False)
        plan = newest.payload.get("plan") if newest else None
    return {
        "id": pid,
        "model": model,
        "visits": _visits(store, pid, volume_names),
        "forecasts": forecasts,
        "treatment": treatment_entry(plan),
        "posterior": posterior_entry(post.payload) if post else None,
        "plans": _plans(store, pid),
    }
