"""The CLI: import, show (course and plan) and export on the example bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from tests.cli import run

BUNDLE = Path(__file__).resolve().parents[1] / "data" / "fhir" / "glioblastoma_course.json"


def test_import_show_export(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["import", "fhir", str(BUNDLE), "--patient", "MRN-0042"], capsys)
    assert code == 0, err
    assert "clinical course imported; dates shifted" in out
    assert "radiotherapy" in out and "60 Gy in 30 fractions" in out
    assert out.count("temozolomide adjuvant") == 6 and "MRN-0042" not in out
    pid = out.split()[1].rstrip(":")
    code, out, err = run(["show", "MRN-0042"], capsys)
    assert code == 0, err
    assert "clinical course (imported from FHIR):" in out and "karnofsky: 80" in out
    assert "treatment plan: 'clinical-record' from" in out and "+ temozolomide" in out
    code, out, _ = run(["show", pid, "--json"], capsys)
    shown = json.loads(out)
    assert shown["plan"]["name"] == "clinical-record"
    assert len(shown["clinical_course"]["temozolomide"]) == 7
    target = tmp_path / "twin.json"
    code, out, err = run(["export", "fhir", pid, "-o", str(target)], capsys)
    assert code == 0, err
    assert "pseudonymised, shifted dates" in out and "7 MedicationAdministration" in out
    Bundle.model_validate(json.loads(target.read_text()))
    assert oct(target.stat().st_mode & 0o777) == "0o600"  # owner-only, like every output


def test_the_report_shows_the_imported_course(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from braintwin.report.document import Table
    from braintwin.twin import Twin
    from braintwin.twin.reporting import build_document

    code, _, err = run(["import", "fhir", str(BUNDLE), "--patient", "MRN-0042"], capsys)
    assert code == 0, err
    doc = build_document(Twin.open("MRN-0042"))
    [section] = [s for s in doc.sections if s.title == "Clinical course"]
    [table] = [b for b in section.blocks if isinstance(b, Table)]
    events = [row[1] for row in table.rows]
    assert any("60 Gy in 30 fractions" in e for e in events)
    assert sum("temozolomide adjuvant" in e for e in events) == 6
    dates = [row[0] for row in table.rows]
    assert dates == sorted(dates)  # a timeline
