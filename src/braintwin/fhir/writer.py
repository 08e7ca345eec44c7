"""Assemble a FHIR R4 Bundle (type ``collection``) of a twin, validated by the R4B models.

Contents: the Patient (the pseudonym under ``urn:braintwin:pseudonym``, or the real identifier
with ``--identified``; no demographics), the clinical course (:mod:`braintwin.fhir.clinical_out`),
per visit a DiagnosticReport referencing its Observations (volumes, response, tumour type) and
its ImagingStudy when the study UID is known, one DiagnosticReport for the model (forecast,
plan comparison), a Device per model that produced a result (software version, weights
SHA-256) and one Provenance per DiagnosticReport naming those Devices. A pseudonymised bundle
is labelled ``PSEUDED`` (HL7 v3 ObservationValue) and tagged ``dates-shifted``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from braintwin.clinical.records import ClinicalCourse
from braintwin.errors import BraintwinError
from braintwin.fhir.clinical_out import clinical_resources
from braintwin.fhir.codes import (
    BRAINTWIN,
    DATES_SHIFTED,
    PROVENANCE_AGENT,
    V2_0074,
    V3_OBSERVATION_VALUE,
)
from braintwin.fhir.results import ExportInput, ModelInfo
from braintwin.fhir.results_out import (
    concept,
    forecast_observations,
    plan_observations,
    visit_observations,
)

__all__ = ["build_bundle"]

Resource = dict[str, Any]


class _Builder:
    def __init__(self, now: dt.datetime) -> None:
        self.entries: list[dict[str, Any]] = []
        self.now = now.isoformat(timespec="seconds")
        self.devices: dict[str, str] = {}

    def add(self, resource: Resource) -> str:
        url = f"urn:uuid:{uuid.uuid4()}"
        self.entries.append({"fullUrl": url, "resource": resource})
        return url

    def device(self, m: ModelInfo) -> str:
        if m.key not in self.devices:
            version = [{"type": {"text": "software"}, "value": m.version}]
            if m.weights_sha256:
                version.append({"type": {"text": "weights sha256"}, "value": m.weights_sha256})
            res: Resource = {
                "resourceType": "Device",
                "deviceName": [{"name": m.name, "type": "model-name"}],
                "version": version,
            }
            if m.detail:
                res["note"] = [{"text": m.detail}]
            self.devices[m.key] = self.add(res)
        return self.devices[m.key]

    def report(
        self,
        code: str,
        subject: dict[str, str],
        date: dt.date,
        results: list[Resource],
        models: tuple[ModelInfo, ...],
        studies: list[str] = (),  # type: ignore[assignment]
        conclusion: str = "",
    ) -> None:
        refs = [self.add(r) for r in results]
        report: Resource = {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": [{"coding": [{"system": V2_0074, "code": "RAD"}]}],
            "code": concept(code),
            "subject": subject,
            "effectiveDateTime": date.isoformat(),
            "issued": self.now,
            "result": [{"reference": r} for r in refs],
        }
        if studies:
            report["imagingStudy"] = [{"reference": s} for s in studies]
        if conclusion:
            report["conclusion"] = conclusion
        url = self.add(report)
        agents = [
            {
                "type": {"coding": [{"system": PROVENANCE_AGENT, "code": "performer"}]},
                "who": {"reference": self.device(m), "display": f"{m.name} {m.version}"},
            }
            for m in {m.key: m for m in models}.values()  # one agent per model
        ]
        self.add(
            {
                "resourceType": "Provenance",
                "target": [{"reference": u} for u in [url, *refs]],
                "recorded": self.now,
                "agent": agents,
            }
        )


def build_bundle(
    inp: ExportInput, course: ClinicalCourse | None, *, now: dt.datetime | None = None
) -> Bundle:
    """The validated bundle of ``inp`` and ``course`` (dates as given)."""
    b = _Builder(now or dt.datetime.now(dt.UTC))
    patient: Resource = {
        "resourceType": "Patient",
        "identifier": [{"system": inp.patient_system, "value": inp.patient_value}],
    }
    subject = {"reference": b.add(patient)}
    if course is not None:
        for res in clinical_resources(course, subject):
            b.add(res)
    for v in inp.visits:
        studies = []
        if v.study_uid:
            studies.append(
                b.add(
                    {
                        "resourceType": "ImagingStudy",
                        "status": "available",
                        "identifier": [
                            {"system": "urn:dicom:uid", "value": f"urn:oid:{v.study_uid}"}
                        ],
                        "subject": subject,
                        "started": v.date.isoformat(),
                    }
                )
            )
        b.report("visit-report", subject, v.date, visit_observations(v, subject), v.models, studies)
    model_results: list[Resource] = []
    models: tuple[ModelInfo, ...] = ()
    model_date = None
    if inp.forecast is not None:
        model_results += forecast_observations(inp.forecast, subject)
        models += inp.forecast.models
        model_date = inp.forecast.made_on
    if inp.plans and inp.plans_start is not None:
        model_results += plan_observations(inp.plans, inp.plans_start, subject)
        models += tuple(m for m in inp.plans_models if m not in models)
        model_date = model_date or inp.plans_start
    if model_results and model_date is not None:
        b.report("model-report", subject, model_date, model_results, models)
    meta: Resource = {}
    if inp.dates_shifted:
        meta = {
            "security": [
                {"system": V3_OBSERVATION_VALUE, "code": "PSEUDED", "display": "pseudonymized"}
            ],
            "tag": [{"system": BRAINTWIN, "code": DATES_SHIFTED[0], "display": DATES_SHIFTED[1]}],
        }
    raw = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": b.now,
        "entry": b.entries,
        **({"meta": meta} if meta else {}),
    }
    try:
        return Bundle.model_validate(raw)
    except ValidationError as err:  # a bug in braintwin, not in the user's data
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BraintwinError(
            f"internal: the FHIR export does not validate at {where}: {first['msg']}"
        ) from None
