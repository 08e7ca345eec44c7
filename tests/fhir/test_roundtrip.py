"""Export → import round trips, and what the export carries for visits and model results.

The visits here are stored directly (tiny volumes with known measurements, a stored forecast
and plan comparison with known numbers) so that each value can be followed into the bundle;
the full pipeline (ingest, calibration, forecast) is exercised by test_end_to_end.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle

from braintwin.cli import main
from braintwin.deid import load_or_create_secret
from braintwin.errors import InputError
from braintwin.fhir.codes import BRAINTWIN, PSEUDONYM_SYSTEM
from braintwin.measure.regions import RegionMeasurement
from braintwin.packaged import data_path
from braintwin.store import Store
from braintwin.twin.clinical import import_fhir, load_course
from braintwin.twin.fhir_export import bundle_json, export_fhir
from braintwin.twin.model import load_plan
from braintwin.twin.pacs import derived_uid
from braintwin.twin.twin import Twin
from braintwin.types import Modality, Visit, Volume

PATIENT = "MRN-0042"


def _region(name: str, ml: float) -> dict[str, Any]:
    """A measurement record whose bidimensional product scales with the volume."""
    side = 10.0 * ml**0.5
    return RegionMeasurement(
        region=name, voxel_count=int(ml * 1000), volume_ml=ml, largest_diameter_mm=side,
        index_lesion_diameter_mm=side, longest_axial_mm=side, perpendicular_mm=side,
        axial_slice=2, bidimensional_mm2=side * side, sum_of_products_mm2=side * side, n_measurable=1, centroid_mm=None,
        n_components=1,
    ).to_dict()  # fmt: skip


def _visit(date: dt.date, wt: float, tc: float, et: float, uid: str | None = None) -> Visit:
    vol = Volume(np.zeros((4, 4, 4), np.float32), np.eye(4), Modality.T1CE)
    meta: dict[str, Any] = {
        "segmentation": {"method": "unet", "observable_regions": ["WT", "TC", "ET"]}
    }
    if uid:
        meta["dicom"] = {"study_uid": uid}
    meas = {r: _region(r, v) for r, v in (("WT", wt), ("TC", tc), ("ET", et))}
    return Visit(date=date, volumes={Modality.T1CE: vol}, measurements=meas, meta=meta)


@pytest.fixture
def twin(home: Path, bundle_dict: dict, write_bundle) -> Twin:
    store = Store.open()
    result = import_fhir(store, write_bundle(bundle_dict), PATIENT)
    t = result.twin
    d0 = t.shift(dt.date(2024, 4, 15))
    store.save_visit(t.id, _visit(d0, 30.0, 12.0, 8.0, uid="2.25.1234"), digest="a" * 64)
    d1 = d0 + dt.timedelta(days=90)
    store.save_visit(t.id, _visit(d1, 20.0, 5.0, 2.0), digest="b" * 64)
    store.update_visit(
        t.id,
        d1,
        classification={"label": "glioma", "probabilities": {"glioma": 0.9, "meningioma": 0.1}},
    )
    forecast = {
        "start": d1.isoformat(),
        "date": (d1 + dt.timedelta(days=90)).isoformat(),
        "credibility": 0.5,
        "days": [0.0, 90.0],
        "volume_ml": {"enhancing": {q: [5.0, v] for q, v in
                                    (("q05", 1.0), ("q25", 2.0), ("q50", 3.0), ("q75", 4.5), ("q95", 7.0))}},
        "progression": {"median_days": 61.0, "p_progression_by_date": 0.7},
        "source": "posterior",
        "n_samples": 10,
        "plan": load_plan(t).model_dump(mode="json"),
    }  # fmt: skip
    store.save_artifact(t.id, "forecast", forecast, visit_date=d1)
    plans = {"start": d1.isoformat(), "plans": [
        {"name": "stupp", "title": "Stupp", "total_dose_gy": 60.0, "n_fractions": 30,
         "temozolomide": True, "ttp_median_days": 300.0, "ttp_q05_days": 100.0,
         "ttp_q95_days": None, "p_pfs_6m": 0.8, "p_pfs_12m": 0.4},
    ]}  # fmt: skip
    store.save_artifact(t.id, "plan_comparison", plans, visit_date=d1)
    return t


def _resources(bundle: Bundle, kind: str) -> list[Any]:
    return [e.resource for e in bundle.entry if e.resource.get_resource_type() == kind]


def _code(res: Any) -> str:
    return next(c.code for c in res.code.coding if c.system == BRAINTWIN)


def test_export_carries_visits_forecast_plans_and_provenance(twin: Twin) -> None:
    bundle = export_fhir(twin)
    Bundle.model_validate(json.loads(bundle_json(bundle)))  # the written JSON validates
    [patient] = _resources(bundle, "Patient")
    assert [(i.system, i.value) for i in patient.identifier] == [(PSEUDONYM_SYSTEM, twin.id)]
    assert patient.birthDate is None and patient.name is None
    text = bundle_json(bundle)
    assert PATIENT not in text and "2024-04-15" not in text  # pseudonym, shifted dates
    reports = _resources(bundle, "DiagnosticReport")
    assert [_code(r) for r in reports] == ["visit-report", "visit-report", "model-report"]
    obs = {
        e.fullUrl: e.resource
        for e in bundle.entry
        if e.resource.get_resource_type() == "Observation"
    }
    first = [obs[r.reference] for r in reports[0].result]
    vols = {_code(o): (float(o.valueQuantity.value), o.valueQuantity.code) for o in first}
    assert vols == {"volume-WT": (30.0, "mL"), "volume-TC": (12.0, "mL"), "volume-ET": (8.0, "mL")}
    second = {_code(obs[r.reference]): obs[r.reference] for r in reports[1].result}
    assert second["rano-response"].valueCodeableConcept.coding[0].code == "PR"  # ET 8 -> 2 mL
    tt = second["tumour-type"]
    assert tt.valueCodeableConcept.coding[0].code == "glioma"
    assert {c.code.text: float(c.valueQuantity.value) for c in tt.component} == {
        "glioma": 0.9, "meningioma": 0.1,
    }  # fmt: skip
    # visit 1 was a DICOM study (its remapped UID); visit 2 a NIfTI visit, which gets the study
    # UID the PACS export derives for it, so FHIR and the DICOM objects name the same study
    studies = {
        e.fullUrl: e.resource
        for e in bundle.entry
        if e.resource.get_resource_type() == "ImagingStudy"
    }
    first_study, second_study = (studies[r.imagingStudy[0].reference] for r in reports[:2])
    assert first_study.identifier[0].value == "urn:oid:2.25.1234"
    secret = load_or_create_secret(Store.open().home)
    derived = derived_uid(secret, twin.id, str(twin.visit_dates()[1]), "study")
    assert second_study.identifier[0].value == f"urn:oid:{derived}"
    model = {_code(obs[r.reference]): obs[r.reference] for r in reports[2].result}
    fv = model["forecast-volume"]
    assert float(fv.valueQuantity.value) == 3.0 and fv.valueQuantity.code == "mL"
    ttp = model["time-to-progression"]
    assert (float(ttp.valueQuantity.value), ttp.valueQuantity.code) == (61.0, "d")
    pc = model["plan-comparison"]
    comps = {c.code.coding[0].code: c for c in pc.component}
    assert float(comps["plan-p-pfs-12m"].valueQuantity.value) == 0.4
    assert comps["plan-ttp-q95"].dataAbsentReason is not None  # beyond the horizon
    provs = _resources(bundle, "Provenance")
    assert len(provs) == 3  # one per report, naming the report and every result in it
    devices = {
        e.fullUrl: e.resource for e in bundle.entry if e.resource.get_resource_type() == "Device"
    }
    named = {
        devices[a.who.reference].deviceName[0].name: devices[a.who.reference]
        for a in provs[0].agent
    }
    assert set(named) == {"braintwin measurement", "braintwin segmentation network"}
    seg = named["braintwin segmentation network"]
    digests = [v.value for v in seg.version if v.type.text == "weights sha256"]
    weights = data_path("segment", "segresnet8x3.pt").read_bytes()
    assert digests == [hashlib.sha256(weights).hexdigest()]


def test_import_export_import_gives_the_same_plan_and_observations(
    twin: Twin, tmp_path: Path
) -> None:
    store = twin.store
    course, plan = load_course(twin), load_plan(twin)
    n_plans = len(store.artifacts(twin.id, "plan", load_volumes=False))
    out = tmp_path / "out.json"
    out.write_text(bundle_json(export_fhir(twin)))
    again = import_fhir(store, out, twin.id)  # pseudonymised: dates not shifted twice
    assert again.action == "unchanged"
    assert load_course(twin) == course and load_plan(twin) == plan
    assert len(store.artifacts(twin.id, "plan", load_volumes=False)) == n_plans
    # identified: real identifier and real dates, read back through the secret offset
    out.write_text(bundle_json(export_fhir(twin, identified=True, given_id=PATIENT)))
    raw = out.read_text()
    assert "MRN-0042" in raw and "2024-02-12" in raw and "dates-shifted" not in raw
    assert import_fhir(store, out, PATIENT).action == "unchanged"
    # into a fresh store (another secret key): the identified bundle gives the same course;
    # a pseudonymised one cannot (its dates are shifted with the first store's key)
    fresh = Store.open(home=tmp_path / "other")
    pseudonymised = tmp_path / "pseudo.json"
    pseudonymised.write_text(bundle_json(export_fhir(twin)))
    with pytest.raises(InputError, match="pseudonymised braintwin export of a twin this store"):
        import_fhir(fresh, pseudonymised, twin.id)
    moved = import_fhir(fresh, out, PATIENT)
    assert moved.course.shifted(-moved.twin.date_offset_days) == course.course.shifted(
        -twin.date_offset_days
    )


def test_identified_export_refuses_a_pseudonym(
    twin: Twin, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", "fhir", twin.id, "--identified", "-o", str(tmp_path / "x.json")])
    assert exit_.value.code == 2
    assert "--identified needs the patient's real identifier" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
