"""Reading the hand-written glioblastoma bundle: known answers for every record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from braintwin.clinical import course_plan
from braintwin.fhir.bundle import load_bundle
from braintwin.fhir.reader import read_course

D = dt.date


def test_the_glioblastoma_course_is_read_as_written(bundle_dict: dict, write_bundle) -> None:
    content = read_course(load_bundle(write_bundle(bundle_dict)))
    assert content.identifiers == [("urn:oid:1.2.36.146.595.217.0.1", "MRN-0042")]
    assert content.birth_date == D(1961, 4, 17) and not content.dates_shifted
    c = content.course
    assert c.flags == () and c.other == ()
    [dx] = c.diagnoses
    assert dx.recognised and dx.date == D(2024, 1, 8)  # onset, not the recorded date
    assert {(x.system, x.code) for x in dx.codes} == {
        ("http://snomed.info/sct", "393563007"),
        ("http://hl7.org/fhir/sid/icd-10", "C71.1"),
    }
    [res] = c.resections
    assert res.date == D(2024, 1, 15)  # the dateTime's calendar day
    [rt] = c.radiotherapy
    assert (rt.start, rt.end, rt.total_dose_gy, rt.fractions) == (
        D(2024, 2, 12), D(2024, 3, 22), 60.0, 30,
    )  # fmt: skip
    tmz = c.temozolomide
    assert [(t.phase, t.dose_mg_m2, t.days) for t in tmz] == [
        ("concomitant", 75.0, 40),
        ("adjuvant", 150.0, 5),
    ] + [("adjuvant", 200.0, 5)] * 5
    # cycles 2-6 from the MedicationStatement: days 1-5 every 28 days from 2024-05-20
    assert [t.start for t in tmz[2:]] == [D(2024, 5, 20) + dt.timedelta(28 * k) for k in range(5)]
    obs = {o.kind: o for o in c.observations}
    assert obs["karnofsky"].value == 80.0 and obs["karnofsky"].date == D(2024, 2, 5)
    assert obs["mgmt"].value == "methylated"
    assert obs["idh"].value == "wildtype" and obs["idh"].gene is not None
    assert obs["idh"].gene.code == "HGNC:5382"


def test_the_plan_places_thirty_weekday_fractions_and_the_temozolomide(
    bundle_dict: dict, write_bundle
) -> None:
    course = read_course(load_bundle(write_bundle(bundle_dict))).course
    plan, notes = course_plan(course)
    assert plan is not None and notes == []  # 30 weekdays from Mon 12 Feb end on Fri 22 Mar
    assert plan.start == D(2024, 2, 12)
    fx = plan.radiotherapy.fractions
    assert len(fx) == 30 and plan.radiotherapy.total_dose_gy == 60.0
    assert {f.dose_gy for f in fx} == {2.0}
    assert all((plan.start + dt.timedelta(days=f.day)).weekday() < 5 for f in fx)
    assert fx[-1].day == 39.0  # Friday of week 6
    chemo = plan.chemotherapy
    assert (chemo[0].start_day, chemo[0].end_day, chemo[0].dose_mg_m2) == (0.0, 40.0, 75.0)
    assert (chemo[1].start_day, chemo[1].end_day) == (70.0, 75.0)  # 22-26 April, 5 days
    # kill rate linear in the dose (growth.treatment.tmz_kill_rate): 200 mg/m² = 8/3 x 75
    assert abs(chemo[2].kill_rate_per_day / chemo[0].kill_rate_per_day - 200 / 75) < 1e-12


def test_the_shipped_file_validates(bundle_dict: dict) -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "fhir" / "glioblastoma_course.json"
    assert load_bundle(path).type == "collection"


def test_a_partial_birth_date_is_read_as_its_first_day(
    bundle_dict: dict, write_bundle, resource
) -> None:
    resource(bundle_dict, "Patient")["birthDate"] = "1961-04"
    assert read_course(load_bundle(write_bundle(bundle_dict))).birth_date == D(1961, 4, 1)
    resource(bundle_dict, "Patient")["birthDate"] = "1961"
    assert read_course(load_bundle(write_bundle(bundle_dict))).birth_date == D(1961, 1, 1)
