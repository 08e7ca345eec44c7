"""Bad bundles: one-line errors naming the resource and field, nothing half-imported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from braintwin.cli import main
from braintwin.errors import InputError
from braintwin.store import Store
from braintwin.twin.clinical import import_fhir, load_course
from braintwin.twin.twin import Twin, resolve_patient

PATIENT = "MRN-0042"


def _state(store: Store) -> tuple[Any, ...]:
    """Everything an import could change: patients, artifacts and events."""
    out = []
    for p in store.list_patients():
        arts = [(a.kind, a.payload) for a in store.artifacts(p.id, load_volumes=False)]
        events = [e.action for e in store.events(p.id)]
        out.append((p.id, arts, events))
    return tuple(map(str, out))


def _refused(store: Store, path: Path, patient: str = PATIENT, **kw: Any) -> str:
    before = _state(store)
    with pytest.raises(InputError) as err:
        import_fhir(store, path, patient, **kw)
    assert _state(store) == before  # nothing half-imported
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.fixture
def store(home: Path) -> Store:
    return Store.open()


def test_a_bundle_failing_validation_names_resource_and_field(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    del resource(bundle_dict, "Observation", 2)["code"]
    msg = _refused(store, write_bundle(bundle_dict))
    assert "Observation (entry 5) field code" in msg and "Field required" in msg


def test_a_wrong_type_in_a_field_is_named(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    resource(bundle_dict, "Procedure", 1)["performedPeriod"]["start"] = "not a date"
    msg = _refused(store, write_bundle(bundle_dict))
    assert "Procedure (entry 6) field performedPeriod.start" in msg


def test_a_radiotherapy_course_without_dose_is_refused(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    rt = resource(bundle_dict, "Procedure", 1)
    rt["extension"] = rt["extension"][:1]  # the number of sessions only
    msg = _refused(store, write_bundle(bundle_dict))
    assert msg.startswith("Procedure (entry 6) (radiotherapy): no total dose")
    assert "totalDoseDelivered" in msg


def test_an_absolute_temozolomide_dose_is_refused_not_converted(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    dose = resource(bundle_dict, "MedicationAdministration", 0)["dosage"]["dose"]
    dose.update(value=140, unit="mg", code="mg")
    msg = _refused(store, write_bundle(bundle_dict))
    assert "dose unit 'mg' is not mg/m2" in msg


def test_dates_before_birth_or_in_the_future_are_refused(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    resource(bundle_dict, "Patient")["birthDate"] = "2024-01-10"
    msg = _refused(store, write_bundle(bundle_dict))
    assert "diagnosis in the bundle is dated 2024-01-08, before the patient's birth date" in msg
    resource(bundle_dict, "Patient")["birthDate"] = "1961-04-17"
    msg = _refused(store, write_bundle(bundle_dict), today=dt.date(2024, 6, 1))
    assert "temozolomide course in the bundle is dated" in msg and "in the future" in msg


def test_a_bundle_for_another_patient_is_refused(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    msg = _refused(store, write_bundle(bundle_dict), patient="MRN-0043")
    assert msg.startswith("the bundle is for another patient")
    assert "MRN" not in msg  # no identifier in the message
    # a resource about someone else inside the right patient's bundle
    resource(bundle_dict, "Condition")["subject"]["reference"] = "Patient/someone-else"
    msg = _refused(store, write_bundle(bundle_dict))
    assert "Condition (entry 1): its subject is not the bundle's Patient" in msg


def test_unknown_codes_are_kept_and_flagged_not_guessed(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    resource(bundle_dict, "Procedure", 0)["code"] = {
        "coding": [{"system": "http://example.org/local-procedures", "code": "NCH-17"}],
        "text": "Awake craniotomy, local code",
    }
    resource(bundle_dict, "Observation", 2)["code"] = {
        "coding": [{"system": "http://loinc.org", "code": "00000-0"}]
    }
    result = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    course = result.course
    assert course.resections == ()  # not guessed into a resection
    [other] = course.other
    assert other.resource_type == "Procedure" and other.codes[0].code == "NCH-17"
    assert [o.kind for o in course.observations].count("other") == 1
    assert any("NCH-17 not recognised; kept" in f for f in course.flags)
    assert any("00000-0 not recognised" in f for f in course.flags)
    stored = load_course(Twin(store, resolve_patient(store, PATIENT)))
    assert stored is not None and stored.course == course  # kept as stored


def test_cli_prints_one_line_and_exits_2(
    home: Path, bundle_dict: dict, write_bundle, resource, capsys: pytest.CaptureFixture[str]
) -> None:
    del resource(bundle_dict, "Observation", 2)["code"]
    with pytest.raises(SystemExit) as exit_:
        main(["import", "fhir", str(write_bundle(bundle_dict)), "--patient", PATIENT])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Observation (entry 5) field code" in err
    assert Store.open().list_patients() == []


def test_not_json_not_a_bundle_and_two_patients(
    store: Store, bundle_dict: dict, write_bundle, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", ')
    assert "broken.json is not JSON" in _refused(store, broken)
    assert "expected a FHIR Bundle, found 'Patient'" in _refused(
        store, write_bundle(bundle_dict["entry"][0]["resource"])
    )
    bundle_dict["entry"].append(
        {"fullUrl": "urn:uuid:other", "resource": {"resourceType": "Patient"}}
    )
    assert "holds 2 Patient resources" in _refused(store, write_bundle(bundle_dict))
