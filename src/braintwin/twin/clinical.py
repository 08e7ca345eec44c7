"""The twin's clinical course: imported from a FHIR bundle, dated on the twin's timeline.

A bundle carries real dates; they are shifted by the patient's secret offset before anything is
stored, exactly like ``ingest --date``, so a visit ingested with its real date and a treatment
imported with its real date keep their true distance. A bundle braintwin exported itself
(tagged ``dates-shifted``) already holds shifted dates and is not shifted again.

What is stored, in one transaction (nothing half-imported): the course as a
``clinical_course`` artifact (typed records, codes as given, flags) and, when it holds
radiotherapy or temozolomide, the treatment plan it implies as the twin's ``plan`` artifact
(read by calibration, forecasts, ``show`` and the report like a plan set with ``braintwin
plan``). The Patient's identifiers and birth date are used for checks and dropped; only the
identifier *systems* (hospital namespaces, no patient data) are kept, for ``--identified``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.clinical import ClinicalCourse, course_plan
from braintwin.errors import InputError
from braintwin.fhir.codes import PSEUDONYM_SYSTEM
from braintwin.twin.twin import Twin, resolve_patient
from braintwin.types import TreatmentPlan

if TYPE_CHECKING:
    from braintwin.fhir.reader import BundleContent
    from braintwin.store import Store

__all__ = ["CLINICAL_KIND", "ImportResult", "StoredCourse", "import_fhir", "load_course"]

CLINICAL_KIND = "clinical_course"


@dataclass
class ImportResult:
    """What an import did: ``action`` is ``"stored"`` or ``"unchanged"`` (same course again)."""

    twin: Twin
    action: str
    course: ClinicalCourse  # shifted dates, as stored
    plan: TreatmentPlan | None  # shifted, as stored; None when the course has no treatment
    notes: list[str] = field(default_factory=list)


@dataclass
class StoredCourse:
    course: ClinicalCourse
    digest: str
    identifier_systems: list[str]
    notes: list[str]


def load_course(twin: Twin) -> StoredCourse | None:
    """The twin's latest imported clinical course (shifted dates), or ``None``."""
    if not twin.store.has_patient(twin.id):
        return None
    art = twin.store.latest_artifact(twin.id, CLINICAL_KIND, load_volumes=False)
    if art is None:
        return None
    p = art.payload
    return StoredCourse(
        course=ClinicalCourse.model_validate(p["course"]),
        digest=str(p["digest"]),
        identifier_systems=list(p.get("identifier_systems", [])),
        notes=list(p.get("notes", [])),
    )


def _matches_patient(content: BundleContent, given: str, pid: str, secret: bytes) -> bool:
    from braintwin.deid import pseudonym

    for system, value in content.identifiers:
        if system == PSEUDONYM_SYSTEM:
            if value == pid:
                return True
            continue
        if value.strip() == given.strip() or pseudonym(value, secret) == pid:
            return True
    return False


_WHAT = {
    "diagnoses": "diagnosis",
    "resections": "resection",
    "radiotherapy": "radiotherapy course",
    "temozolomide": "temozolomide course",
    "observations": "observation",
    "other": "record",
}


def _check_dates(course: ClinicalCourse, birth: dt.date | None, today: dt.date) -> None:
    """Refuse real dates in the future or before birth (naming the record, not the patient)."""
    for name, d in course.labelled_dates():
        what = _WHAT.get(name, name)
        if d > today:
            raise InputError(
                f"a {what} in the bundle is dated {d}, in the future",
                "check the dates in the bundle (real dates, YYYY-MM-DD)",
            )
        if birth is not None and d < birth:
            raise InputError(
                f"a {what} in the bundle is dated {d}, before the patient's birth date",
                "check the dates in the bundle (real dates, YYYY-MM-DD)",
            )


def import_fhir(
    store: Store, path: Path, patient: str, *, today: dt.date | None = None
) -> ImportResult:
    """Import the clinical course of the FHIR R4 bundle at ``path`` into ``patient``'s twin
    (created when new). Everything is checked before anything is written."""
    from braintwin.deid import load_or_create_secret
    from braintwin.fhir.bundle import load_bundle
    from braintwin.fhir.reader import read_course
    from braintwin.twin.model import load_plan, patient_lock

    content = read_course(load_bundle(Path(path)))
    twin = Twin(store, resolve_patient(store, patient))
    secret = load_or_create_secret(store.home)
    pseudonyms = [v for s, v in content.identifiers if s == PSEUDONYM_SYSTEM]
    if pseudonyms and not any(store.has_patient(v) for v in pseudonyms):
        raise InputError(
            "the bundle is a pseudonymised braintwin export of a twin this store does not hold",
            "its dates are shifted with another key: import an `export fhir --identified` bundle",
        )
    if not _matches_patient(content, patient, twin.id, secret):
        raise InputError(
            "the bundle is for another patient: none of its Patient identifiers is --patient",
            "check --patient and the bundle (its Patient.identifier)",
        )
    offset = twin.date_offset_days
    if content.dates_shifted:
        stored, real = content.course, content.course.shifted(-offset)
    else:
        stored, real = content.course.shifted(offset), content.course
    _check_dates(real, content.birth_date, today or dt.date.today())
    plan_real, plan_notes = course_plan(real)
    plan = None
    if plan_real is not None:
        plan = plan_real.model_copy(update={"start": plan_real.start + dt.timedelta(days=offset)})
    notes = list(content.notes) + plan_notes
    if stored.is_empty():
        raise InputError(
            "the bundle holds no Condition, Procedure, medication or Observation of the patient",
            "export the patient's clinical record, not only the Patient resource",
        )
    payload: dict[str, Any] = {
        "course": stored.model_dump(mode="json"),
        "digest": stored.digest(),
        "identifier_systems": sorted({s for s, _ in content.identifiers if s != PSEUDONYM_SYSTEM}),
        "notes": notes,
        "source": "fhir",
    }
    with patient_lock(twin):
        known = store.has_patient(twin.id)
        previous = load_course(twin) if known else None
        current_plan = load_plan(twin) if known else None
        if (
            previous is not None
            and previous.digest == payload["digest"]
            and (plan is None or current_plan == plan)
        ):
            return ImportResult(twin, "unchanged", stored, current_plan, notes)
        items: list[tuple[str, dict[str, Any]]] = [(CLINICAL_KIND, payload)]
        if plan is not None and plan != current_plan:
            items.append(("plan", plan.model_dump(mode="json")))
            if current_plan is not None:
                notes.append(f"replaces the twin's plan {current_plan.name!r}")
            if known and store.latest_artifact(twin.id, "posterior", load_volumes=False):
                notes.append(
                    f"the model was calibrated before this plan; `braintwin calibrate {twin.id}` "
                    "refits it under the imported treatment"
                )
        event = {"digest": payload["digest"], "plan": plan is not None, "flags": len(stored.flags)}
        store.save_artifacts(twin.id, items, create_patient=True, event=("import_fhir", event))
    return ImportResult(twin, "stored", stored, plan, notes)
