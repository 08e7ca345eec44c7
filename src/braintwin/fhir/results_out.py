"""braintwin's results as FHIR Observations (codes and units in docs/fhir.md).

Volumes are in mL (UCUM ``mL``), times in days (UCUM ``d``), probabilities as fractions (UCUM
``1``), doses in Gy (UCUM ``Gy``). No LOINC code exists for these model outputs, so each has a
code of braintwin's code system (:data:`braintwin.fhir.codes.BRAINTWIN`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from braintwin.fhir.codes import BRAINTWIN, DATA_ABSENT, OBS_CATEGORY, UCUM
from braintwin.fhir.results import ForecastResult, PlanResult, VisitResult

__all__ = [
    "RESULT_CODES",
    "forecast_observations",
    "plan_observations",
    "visit_observations",
]

Resource = dict[str, Any]

RESULT_CODES: dict[str, str] = {
    "volume-WT": "Whole tumour volume (FLAIR-visible, WT) on MRI",
    "volume-TC": "Tumour core volume (T1ce-visible core, TC) on MRI",
    "volume-ET": "Enhancing tumour volume (ET) on MRI",
    "rano-response": "RANO-style response category (volumetric)",
    "tumour-type": "MRI tumour type (classifier)",
    "tumour-type-probability": "Probability of a tumour type",
    "forecast-volume": "Forecast tumour volume (growth-model posterior predictive)",
    "time-to-progression": "Forecast time to progression (median)",
    "p-progression": "Probability of progression by the forecast date",
    "plan-comparison": "Treatment plan comparison (posterior predictive)",
    "visit-report": "braintwin MRI visit report (measurements, response, tumour type)",
    "model-report": "braintwin growth-model report (forecast, plan comparison)",
    "plan-name": "Treatment plan",
    "plan-total-dose": "Radiotherapy total dose of the plan",
    "plan-fractions": "Radiotherapy fractions of the plan",
    "plan-ttp-median": "Median time to progression under the plan",
    "plan-ttp-q05": "5th percentile of the time to progression under the plan",
    "plan-ttp-q95": "95th percentile of the time to progression under the plan",
    "plan-p-pfs-6m": "Probability of progression-free survival at 6 months under the plan",
    "plan-p-pfs-12m": "Probability of progression-free survival at 12 months under the plan",
    "q05": "5th percentile",
    "q25": "25th percentile",
    "q75": "75th percentile",
    "q95": "95th percentile",
}
RESPONSES = {
    "CR": "complete response",
    "PR": "partial response",
    "SD": "stable disease",
    "PD": "progressive disease",
    "NE": "not evaluable",
}
_UNITS = {"mL": "mL", "d": "d", "1": "1", "Gy": "Gy"}


def concept(code: str, text: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "coding": [{"system": BRAINTWIN, "code": code, "display": RESULT_CODES.get(code, code)}]
    }
    if text:
        out["text"] = text
    return out


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": round(float(value), 6), "unit": unit, "system": UCUM, "code": _UNITS[unit]}


def _obs(code: str, subject: dict[str, str], date: dt.date, text: str = "") -> Resource:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "imaging"}]}],
        "code": concept(code, text),
        "subject": subject,
        "effectiveDateTime": date.isoformat(),
    }


def _component(code: str, value: float | None, unit: str, text: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"code": concept(code, text)}
    if value is None:
        out["dataAbsentReason"] = {"coding": [{"system": DATA_ABSENT, "code": "not-applicable"}]}
    else:
        out["valueQuantity"] = quantity(value, unit)
    return out


def visit_observations(v: VisitResult, subject: dict[str, str]) -> list[Resource]:
    """Regional volumes (mL), the RANO-style response and the tumour type of one visit."""
    out = []
    for region in ("WT", "TC", "ET"):
        if region in v.volumes_ml:
            o = _obs(f"volume-{region}", subject, v.date)
            o["valueQuantity"] = quantity(v.volumes_ml[region], "mL")
            out.append(o)
    if v.response is not None:
        o = _obs("rano-response", subject, v.date)
        o["valueCodeableConcept"] = {
            "coding": [
                {"system": BRAINTWIN, "code": v.response, "display": RESPONSES.get(v.response, "")}
            ],
            "text": v.response_note or RESPONSES.get(v.response, v.response),
        }
        out.append(o)
    if v.tumour_type is not None:
        o = _obs("tumour-type", subject, v.date)
        o["valueCodeableConcept"] = {
            "coding": [{"system": BRAINTWIN, "code": v.tumour_type}],
            "text": v.tumour_type,
        }
        o["component"] = [
            _component("tumour-type-probability", p, "1", text=label)
            for label, p in sorted(v.tumour_probabilities.items())
        ]
        out.append(o)
    return out


def forecast_observations(f: ForecastResult, subject: dict[str, str]) -> list[Resource]:
    """Volume bands (median as the value, quantiles as components) per compartment at the
    target date, and the time to progression (days) with its probability by that date."""
    out = []
    for compartment, bands in sorted(f.bands_ml.items()):
        o = _obs("forecast-volume", subject, f.target, text=f"{compartment} compartment")
        o["valueQuantity"] = quantity(bands["q50"], "mL")
        o["component"] = [_component(q, bands.get(q), "mL") for q in ("q05", "q25", "q75", "q95")]
        o["note"] = [{"text": f"from {f.made_on} under plan {f.plan_name!r} ({f.source})"}]
        out.append(o)
    o = _obs("time-to-progression", subject, f.target)
    if f.ttp_median_days is None:
        o["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "not-applicable"}],
            "text": "median time to progression beyond the forecast horizon",
        }
    else:
        o["valueQuantity"] = quantity(f.ttp_median_days, "d")
    o["component"] = [_component("p-progression", f.p_progression, "1")]
    o["note"] = [{"text": f"days from {f.made_on}; plan {f.plan_name!r}"}]
    out.append(o)
    return out


def plan_observations(
    plans: list[PlanResult], start: dt.date, subject: dict[str, str]
) -> list[Resource]:
    """One Observation per compared plan: its TTP (days from ``start``) and P(PFS)."""
    out = []
    for p in plans:
        o = _obs("plan-comparison", subject, start, text=p.title or p.name)
        o["valueQuantity"] = None if p.ttp_median_days is None else quantity(p.ttp_median_days, "d")
        if o["valueQuantity"] is None:
            del o["valueQuantity"]
            o["dataAbsentReason"] = {"coding": [{"system": DATA_ABSENT, "code": "not-applicable"}]}
        o["component"] = [
            {"code": concept("plan-name"), "valueString": p.name},
            _component("plan-total-dose", p.total_dose_gy, "Gy"),
            _component("plan-fractions", float(p.n_fractions), "1"),
            _component("plan-ttp-median", p.ttp_median_days, "d"),
            _component("plan-ttp-q05", p.ttp_q05_days, "d"),
            _component("plan-ttp-q95", p.ttp_q95_days, "d"),
            _component("plan-p-pfs-6m", p.p_pfs_6m, "1"),
            _component("plan-p-pfs-12m", p.p_pfs_12m, "1"),
        ]
        out.append(o)
    return out
