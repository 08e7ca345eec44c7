"""What an import stores: one transaction, the plan, re-imports and newer bundles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from braintwin.errors import StoreError
from braintwin.growth import plan_by_name
from braintwin.store import Store
from braintwin.twin.clinical import import_fhir, load_course
from braintwin.twin.model import load_plan, save_plan
from braintwin.twin.twin import Twin

PATIENT = "MRN-0042"


@pytest.fixture
def store(home: Path) -> Store:
    return Store.open()


def test_dates_are_shifted_by_the_patients_offset_like_ingest(
    store: Store, bundle_dict: dict, write_bundle
) -> None:
    result = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    twin = result.twin
    assert twin.id != PATIENT and twin.id.startswith("BT-")
    [rt] = result.course.radiotherapy
    assert rt.start == twin.shift(dt.date(2024, 2, 12))  # the same shift as `ingest --date`
    plan = load_plan(twin)
    assert plan is not None and plan.start == rt.start and plan.name == "clinical-record"
    # the weekdays were taken on the real calendar, then the plan was shifted as a whole
    real_days = {
        (dt.date(2024, 2, 12) + dt.timedelta(days=f.day)).weekday()
        for f in plan.radiotherapy.fractions
    }
    assert real_days == {0, 1, 2, 3, 4}


def test_everything_is_written_in_one_transaction(
    store: Store, bundle_dict: dict, write_bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Store._add_event

    def fail_on_import(self, session, patient_id, action, details):  # type: ignore[no-untyped-def]
        if action == "import_fhir":  # the last row of the transaction
            raise StoreError("simulated failure")
        return real(self, session, patient_id, action, details)

    monkeypatch.setattr(Store, "_add_event", fail_on_import)
    with pytest.raises(StoreError):
        import_fhir(store, write_bundle(bundle_dict), PATIENT)
    assert store.list_patients() == []  # not even the patient row


def test_same_bundle_twice_is_unchanged_and_a_newer_one_replaces_the_course(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    first = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    n_events = len(store.events(first.twin.id))
    assert import_fhir(store, write_bundle(bundle_dict), PATIENT).action == "unchanged"
    assert len(store.events(first.twin.id)) == n_events
    resource(bundle_dict, "Observation", 2)["valueInteger"] = 70
    newer = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    assert newer.action == "stored"
    stored = load_course(newer.twin)
    assert stored is not None
    assert [o.value for o in stored.course.observations if o.kind == "karnofsky"] == [70.0]
    # the treatment did not change: no second plan record
    assert len(store.artifacts(newer.twin.id, "plan", load_volumes=False)) == 1


def test_an_import_replacing_a_typed_plan_says_so(
    store: Store, bundle_dict: dict, write_bundle
) -> None:
    store.add_patient(Twin.open(PATIENT, store=store, create=True).id)
    twin = Twin.open(PATIENT, store=store)
    save_plan(twin, plan_by_name("stupp", dt.date(2023, 1, 2)))
    result = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    assert any("replaces the twin's plan 'stupp-60Gy-30fx'" in n for n in result.notes)
    assert load_plan(twin) == result.plan


def test_a_bundle_with_no_treatment_keeps_the_twins_plan(
    store: Store, bundle_dict: dict, write_bundle
) -> None:
    bundle_dict["entry"] = [
        e for e in bundle_dict["entry"]
        if e["resource"]["resourceType"] in ("Patient", "Condition", "Observation")
    ]  # fmt: skip
    result = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    assert result.plan is None and load_plan(result.twin) is None
    assert len(result.course.observations) == 3


def test_no_identifier_name_or_birth_date_is_stored(
    home: Path, store: Store, bundle_dict: dict, write_bundle
) -> None:
    import_fhir(store, write_bundle(bundle_dict), PATIENT)
    store.close()
    blob = b"".join(
        p.read_bytes() for p in home.rglob("*") if p.is_file() and "bundle" not in p.name
    )
    for secret in (b"MRN-0042", b"Example", b"1961-04-17", b"2024-02-12"):
        assert secret not in blob  # identifier, name, birth date, a real (unshifted) date


def test_a_planned_course_is_skipped_with_a_note(
    store: Store, bundle_dict: dict, write_bundle, resource
) -> None:
    statement = resource(bundle_dict, "MedicationStatement")
    statement["status"] = "intended"
    statement["effectivePeriod"] = {"start": "2099-01-05", "end": "2099-05-01"}  # not refused
    result = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    assert len(result.course.temozolomide) == 2  # concomitant + cycle 1 only
    assert any("status intended, ignored" in f for f in result.course.flags)
