"""The clinical course imported before two real visits (the cropped TCIA pair shipped in
tests/data/progression): one timeline, and an export that carries both."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from braintwin.store import Store
from braintwin.twin import IngestOptions
from braintwin.twin.clinical import import_fhir
from braintwin.twin.fhir_export import bundle_json, export_fhir
from braintwin.twin.model import load_plan
from braintwin.types import Modality

PATIENT = "MRN-0042"


@pytest.mark.slow
def test_import_then_ingest_the_shipped_pair_then_export(
    home: Path, shipped_progression: Path, bundle_dict: dict, write_bundle, tmp_path: Path
) -> None:
    store = Store.open()
    twin = import_fhir(store, write_bundle(bundle_dict), PATIENT).twin
    pair = shipped_progression / "10"
    for scan, mask, real in (
        ("Pre_Scan_T1", "Pre_Mask", dt.date(2024, 4, 15)),
        ("Post_Scan_T1", "Post_Mask", dt.date(2024, 7, 14)),
    ):
        opts = IngestOptions(
            modality=Modality.T1CE,
            spacing_override=(1.0, 1.0, 5.0),  # the headers claim 1 mm; the slices are ~5 mm
            segmentation=pair / f"{mask}.nii.gz",
            classify=False,
            update_model=False,
            n4=False,
        )
        twin.add_visit(pair / f"{scan}.nii.gz", real, options=opts)
    # one timeline: the radiotherapy start and the visits keep their real distances
    plan = load_plan(twin)
    assert plan is not None
    first, second = twin.visit_dates()
    assert (first - plan.start).days == (dt.date(2024, 4, 15) - dt.date(2024, 2, 12)).days
    assert (second - first).days == 90
    bundle = export_fhir(twin)
    raw = json.loads(bundle_json(bundle))
    Bundle.model_validate(raw)
    entries = {e["fullUrl"]: e["resource"] for e in raw["entry"]}
    reports = [r for r in entries.values() if r["resourceType"] == "DiagnosticReport"]
    assert [r["effectiveDateTime"] for r in reports] == [str(first), str(second)]
    for report, date in zip(reports, (first, second), strict=True):
        wt = store.visit_record(twin.id, date)["measurements"]["WT"]["volume_ml"]
        vols = [entries[r["reference"]] for r in report["result"]]
        [obs] = [o for o in vols if o["code"]["coding"][0]["code"] == "volume-WT"]
        assert obs["valueQuantity"]["value"] == pytest.approx(wt, abs=1e-6)
        assert obs["valueQuantity"]["code"] == "mL"
    out = tmp_path / "twin.json"
    out.write_text(bundle_json(bundle))
    assert import_fhir(store, out, twin.id).action == "unchanged"
