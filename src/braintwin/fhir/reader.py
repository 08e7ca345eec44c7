"""FHIR R4 bundle → the patient's clinical course (:class:`~braintwin.clinical.ClinicalCourse`).

What is read (docs/fhir.md has the full convention):

- Patient: its identifiers (to check the bundle is for the patient named on the command line)
  and birthDate (to refuse dates before birth); nothing else, and neither is kept.
- Condition: diagnosis with onset (or recorded) date; glioblastoma codes are recognised.
- Procedure: resection, or a radiotherapy course with its total dose and number of fractions
  (mCODE's radiotherapy course summary extensions); any other code is kept and flagged.
- MedicationAdministration / MedicationStatement: temozolomide (:mod:`braintwin.fhir.medication`).
- Observation: Karnofsky / ECOG, MGMT, IDH (:mod:`braintwin.fhir.clinical_obs`).

Every clinical resource must be about the bundle's one Patient (its ``subject``); entries with
status entered-in-error / not-done are skipped with a note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from braintwin.clinical.records import (
    ClinicalCourse,
    Code,
    Diagnosis,
    OtherRecord,
    RadiotherapyCourse,
    Resection,
)
from braintwin.errors import InputError
from braintwin.fhir.bundle import Entry, as_date, codes_of, entries, text_of
from braintwin.fhir.clinical_obs import observation
from braintwin.fhir.codes import (
    BRAINTWIN,
    DATES_SHIFTED,
    GLIOMA_CODES,
    MCODE_DOSE_EXT,
    MCODE_SESSIONS_EXT,
    RADIOTHERAPY_CODES,
    RESECTION_CODES,
    TEMOZOLOMIDE_CODES,
    matches,
)
from braintwin.fhir.medication import (
    DoseCourse,
    administration_courses,
    assign_phases,
    medication_codes,
    statement_courses,
)

__all__ = ["BundleContent", "read_course"]

_CLINICAL = {
    "Condition",
    "Procedure",
    "MedicationAdministration",
    "MedicationStatement",
    "Observation",
}
# Resources braintwin writes itself or that only support others (read through references).
_SUPPORT = {"DiagnosticReport", "ImagingStudy", "Provenance", "Device", "Medication"}
# never happened (or not yet): planned courses are not treatment given
_SKIP_STATUS = {"entered-in-error", "not-done", "not-taken", "cancelled", "intended", "preparation"}
_RT_HINT = (
    "record the total dose in mCODE's dose-delivered-to-volume extension "
    "(totalDoseDelivered, cGy or Gy) and the fractions (fractionsDelivered), see docs/fhir.md"
)


@dataclass
class BundleContent:
    """What a bundle says: the patient's identifiers ``(system, value)`` (never stored), the
    birth date (only to check dates), whether its dates are already the twin's shifted ones
    (a braintwin export), and the clinical course (dates as in the bundle)."""

    identifiers: list[tuple[str, str]]
    birth_date: dt.date | None
    dates_shifted: bool
    course: ClinicalCourse
    notes: list[str] = field(default_factory=list)


def _patient(all_entries: list[Entry]) -> Entry:
    patients = [e for e in all_entries if e.type == "Patient"]
    if len(patients) != 1:
        raise InputError(
            f"the bundle holds {len(patients)} Patient resources, expected exactly one",
            "export one patient's record per bundle, with its Patient resource",
        )
    return patients[0]


def _check_subject(entry: Entry, patient: Entry) -> None:
    ref = getattr(entry.resource, "subject", None) or getattr(entry.resource, "patient", None)
    if ref is None or not ref.reference:
        raise InputError(f"{entry.where}: no subject", "reference the bundle's Patient")
    if str(ref.reference) not in patient.names:
        raise InputError(
            f"{entry.where}: its subject is not the bundle's Patient (another patient?)",
            "one bundle holds one patient's record",
        )


def _quantity_gy(q: Any, where: str) -> float:
    unit = str(q.code or q.unit or "")
    if q.value is None or unit not in ("Gy", "cGy"):
        raise InputError(
            f"{where}: total dose unit {unit or 'missing'!r} is not Gy or cGy", _RT_HINT
        )
    return float(q.value) / (100.0 if unit == "cGy" else 1.0)


def _rt_dose(entry: Entry) -> tuple[float, int]:
    """(total Gy, fractions) from mCODE's extensions; the highest-dose volume when several."""
    res, where = entry.resource, f"{entry.where} (radiotherapy)"
    doses: list[tuple[float, int | None]] = []
    sessions = None
    for ext in res.extension or []:
        if ext.url == MCODE_SESSIONS_EXT and ext.valueUnsignedInt is not None:
            sessions = int(ext.valueUnsignedInt)
        if ext.url == MCODE_DOSE_EXT:
            sub = {e.url: e for e in ext.extension or []}
            total = sub.get("totalDoseDelivered")
            if total is not None and total.valueQuantity is not None:
                fx = sub.get("fractionsDelivered")
                n = None if fx is None or fx.valueUnsignedInt is None else int(fx.valueUnsignedInt)
                doses.append((_quantity_gy(total.valueQuantity, where), n))
    if not doses:
        raise InputError(f"{where}: no total dose", _RT_HINT)
    gy, n = max(doses, key=lambda d: d[0])
    n = n if n is not None else sessions
    if n is None:
        raise InputError(f"{where}: no number of fractions", _RT_HINT)
    return gy, n


def _procedure(entry: Entry, codes: tuple[Code, ...], course: dict[str, list[Any]]) -> None:
    res, where = entry.resource, entry.where
    start: dt.date | None = None
    end: dt.date | None = None
    if res.performedDateTime is not None:
        start = end = as_date(res.performedDateTime, where, "performedDateTime")
    elif res.performedPeriod is not None and res.performedPeriod.start is not None:
        start = as_date(res.performedPeriod.start, where, "performedPeriod.start")
        if res.performedPeriod.end is not None:
            end = as_date(res.performedPeriod.end, where, "performedPeriod.end")
    if start is None:
        raise InputError(f"{where}: no performed date", "give performedDateTime or performedPeriod")
    if matches(codes, RADIOTHERAPY_CODES):
        gy, n = _rt_dose(entry)
        try:
            rt = RadiotherapyCourse(
                start=start, end=end, total_dose_gy=gy, fractions=n, codes=codes,
                text=text_of(res.code),
            )  # fmt: skip
        except ValidationError as err:
            msg = str(err.errors()[0]["msg"]).removeprefix("Value error, ")
            field_ = ".".join(str(p) for p in err.errors()[0]["loc"])
            raise InputError(f"{where} (radiotherapy) {field_}: {msg}", _RT_HINT) from None
        course["radiotherapy"].append(rt)
    elif matches(codes, RESECTION_CODES):
        course["resections"].append(Resection(date=start, codes=codes, text=text_of(res.code)))
    else:
        course["other"].append(
            OtherRecord(resource_type="Procedure", date=start, codes=codes, text=text_of(res.code))
        )
        course["flags"].append(f"{where}: procedure code {_label(codes)} not recognised; kept")


def _label(codes: tuple[Code, ...]) -> str:
    return ", ".join(c.label() for c in codes) or "(none)"


def _condition(entry: Entry, codes: tuple[Code, ...], course: dict[str, list[Any]]) -> None:
    res, where = entry.resource, entry.where
    if res.onsetDateTime is not None:
        date = as_date(res.onsetDateTime, where, "onsetDateTime")
    elif res.onsetPeriod is not None and res.onsetPeriod.start is not None:
        date = as_date(res.onsetPeriod.start, where, "onsetPeriod.start")
    elif res.recordedDate is not None:
        date = as_date(res.recordedDate, where, "recordedDate")
    else:
        raise InputError(f"{where}: no date", "give onsetDateTime or recordedDate")
    known = matches(codes, GLIOMA_CODES)
    if not known:
        course["flags"].append(f"{where}: diagnosis code {_label(codes)} not recognised; kept")
    course["diagnoses"].append(
        Diagnosis(date=date, codes=codes, text=text_of(res.code), recognised=known)
    )


def _medication(
    entry: Entry, index: dict[str, Entry], doses: list[DoseCourse], course: dict[str, list[Any]]
) -> None:
    codes = medication_codes(entry.resource, index)
    if not matches(codes, TEMOZOLOMIDE_CODES):
        eff = getattr(entry.resource, "effectivePeriod", None)
        date = getattr(entry.resource, "effectiveDateTime", None) or (eff and eff.start)
        course["other"].append(
            OtherRecord(
                resource_type=entry.type,
                date=None if date is None else as_date(date, entry.where, "effective"),
                codes=codes,
            )
        )
        course["flags"].append(f"{entry.where}: medication {_label(codes)} not recognised; kept")
        return
    if entry.type == "MedicationAdministration":
        doses += administration_courses(entry, codes)
    else:
        doses += statement_courses(entry, codes)


def _birth_date(value: Any) -> dt.date | None:
    """The birth date; a partial one (``1961`` or ``1961-04``) as its first day, which refuses
    only dates certainly before birth."""
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    parts = [int(p) for p in str(value).split("-")]
    return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, 1)


def read_course(bundle: Bundle) -> BundleContent:
    """The clinical course of a validated bundle (dates as written in it)."""
    all_entries = list(entries(bundle))
    patient = _patient(all_entries)
    index = {name: e for e in all_entries for name in e.names}
    course: dict[str, list[Any]] = {
        k: [] for k in ("diagnoses", "resections", "radiotherapy", "observations", "other", "flags")
    }
    doses: list[DoseCourse] = []
    ignored: dict[str, int] = {}
    for entry in all_entries:
        if entry.type not in _CLINICAL:
            if entry.type not in _SUPPORT and entry.type != "Patient":
                ignored[entry.type] = ignored.get(entry.type, 0) + 1
            continue
        _check_subject(entry, patient)
        status = getattr(entry.resource, "status", None)
        if status in _SKIP_STATUS and entry.type != "Observation":
            course["flags"].append(f"{entry.where}: status {status}, ignored")
            continue
        if entry.type == "Condition":
            _condition(entry, codes_of(entry.resource.code), course)
        elif entry.type == "Procedure":
            _procedure(entry, codes_of(entry.resource.code), course)
        elif entry.type == "Observation":
            obs = observation(entry, course["flags"])
            if obs is not None:
                course["observations"].append(obs)
        else:
            _medication(entry, index, doses, course)
    rt = tuple(sorted(course.pop("radiotherapy"), key=lambda r: r.start))
    flags = course.pop("flags")
    result = ClinicalCourse(
        radiotherapy=rt,
        temozolomide=assign_phases(doses, rt),
        flags=tuple(flags),
        **{k: tuple(v) for k, v in course.items()},
    )
    res = patient.resource
    ids = [(str(i.system or ""), str(i.value)) for i in res.identifier or [] if i.value]
    tags = {(t.system, t.code) for t in (bundle.meta.tag or [])} if bundle.meta else set()
    notes = [f"ignored {n} {kind} resource(s)" for kind, n in sorted(ignored.items())]
    return BundleContent(
        identifiers=ids,
        birth_date=_birth_date(res.birthDate),
        dates_shifted=(BRAINTWIN, DATES_SHIFTED[0]) in tags,
        course=result,
        notes=notes,
    )
