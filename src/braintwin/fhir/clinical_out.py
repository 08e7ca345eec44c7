"""The clinical course back out as FHIR R4 resources, in the shapes the reader accepts, so an
export imports back to the same course (round trip): Condition, Procedure (resection,
radiotherapy with mCODE's dose extensions), MedicationAdministration (one per temozolomide
course or cycle), Observation; unrecognised records keep their resource type and codes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from braintwin.clinical.records import ClinicalCourse, ClinicalObservation, Code
from braintwin.fhir.codes import (
    GENE_STUDIED_LOINC,
    LOINC,
    MCODE_DOSE_EXT,
    MCODE_SESSIONS_EXT,
    OBS_CATEGORY,
    UCUM,
)

__all__ = ["clinical_resources"]

Resource = dict[str, Any]


def _concept(codes: tuple[Code, ...], text: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if codes:
        out["coding"] = [
            {k: v for k, v in (("system", c.system), ("code", c.code), ("display", c.display)) if v}
            for c in codes
        ]
    if text:
        out["text"] = text
    return out


def _day(d: dt.date) -> str:
    return d.isoformat()


def _observation(o: ClinicalObservation, subject: dict[str, str]) -> Resource:
    category = "survey" if o.kind in ("karnofsky", "ecog") else "laboratory"
    res: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
        "code": _concept(o.codes, o.text) or {"text": o.kind},
        "subject": subject,
        "effectiveDateTime": _day(o.date),
    }
    if o.value_code is not None:
        concept = _concept((o.value_code,))
        if isinstance(o.value, str) and o.value != o.value_code.code:
            concept["text"] = o.value
        res["valueCodeableConcept"] = concept
    elif isinstance(o.value, float) and o.kind in ("karnofsky", "ecog") and not o.unit:
        res["valueInteger"] = round(o.value)
    elif isinstance(o.value, float):
        res["valueQuantity"] = {"value": o.value, "unit": o.unit, "system": UCUM, "code": o.unit}
        if not o.unit:
            res["valueQuantity"] = {"value": o.value}
    elif isinstance(o.value, str):
        res["valueString"] = o.value
    if o.gene is not None:
        res["component"] = [
            {
                "code": _concept((Code(system=LOINC, code=GENE_STUDIED_LOINC),)),
                "valueCodeableConcept": _concept((o.gene,)),
            }
        ]
    return res


def clinical_resources(course: ClinicalCourse, subject: dict[str, str]) -> list[Resource]:
    """FHIR resources (as JSON dicts, validated by the caller) of ``course``."""
    out: list[Resource] = []
    for d in course.diagnoses:
        out.append(
            {
                "resourceType": "Condition",
                "code": _concept(d.codes, d.text),
                "subject": subject,
                "onsetDateTime": _day(d.date),
            }
        )
    for r in course.resections:
        out.append(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "code": _concept(r.codes, r.text),
                "subject": subject,
                "performedDateTime": _day(r.date),
            }
        )
    for rt in course.radiotherapy:
        period = {"start": _day(rt.start)}
        if rt.end is not None:
            period["end"] = _day(rt.end)
        dose = {"value": rt.total_dose_gy, "unit": "Gy", "system": UCUM, "code": "Gy"}
        out.append(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "extension": [
                    {"url": MCODE_SESSIONS_EXT, "valueUnsignedInt": rt.fractions},
                    {
                        "url": MCODE_DOSE_EXT,
                        "extension": [
                            {"url": "volume", "valueReference": {"display": "treated volume"}},
                            {"url": "totalDoseDelivered", "valueQuantity": dose},
                            {"url": "fractionsDelivered", "valueUnsignedInt": rt.fractions},
                        ],
                    },
                ],
                "code": _concept(rt.codes, rt.text),
                "subject": subject,
                "performedPeriod": period,
            }
        )
    for t in course.temozolomide:
        dose = {"value": t.dose_mg_m2, "unit": "mg/m2", "system": UCUM, "code": "mg/m2"}
        out.append(
            {
                "resourceType": "MedicationAdministration",
                "status": "completed",
                "medicationCodeableConcept": _concept(t.codes),
                "subject": subject,
                "effectivePeriod": {"start": _day(t.start), "end": _day(t.end)},
                "dosage": {"text": f"{t.phase} temozolomide", "dose": dose},
            }
        )
    out += [_observation(o, subject) for o in course.observations]
    for other in course.other:
        res: Resource = {"resourceType": other.resource_type, "subject": subject}
        concept = _concept(other.codes, other.text) or {"text": "unknown"}
        if other.resource_type == "Procedure":
            res.update(status="completed", code=concept)
            if other.date is not None:
                res["performedDateTime"] = _day(other.date)
        else:
            res.update(status="completed", medicationCodeableConcept=concept)
            if other.date is not None:
                res["effectiveDateTime"] = _day(other.date)
            else:
                continue  # a medication record needs effective[x]; nothing to date it by
        out.append(res)
    return out
