"""Property-based fuzzing of every operation in the OpenAPI schema (Schemathesis): no input
makes the server answer 5xx. Bounded in time. The admin's token reaches every code path
(the researcher's is mostly refused, which the role matrix covers), so one run uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Service

BUDGET_S = 50


@pytest.fixture(scope="module")
def service(make_service: Callable[..., Service]) -> Service:
    # its own: the fuzzer creates users, teams, patients and jobs. No worker runs, so the
    # event stream of a job would stay open until its limit: keep that short.
    return make_service(BRAINTWIN_API_SSE_MAX_S="1")


def test_no_server_error_under_fuzzing(service: Service, tmp_path: Path) -> None:
    user = "admin"
    report = tmp_path / "report.json"
    # path parameters that reach real data (else most patient routes only see 403/404)
    pid, date = service.patients["team-a"], service.visit["team-a"]
    (tmp_path / "schemathesis.toml").write_text(
        f'[parameters]\n"path.pid" = "{pid}"\n"path.date" = "{date}"\n'
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{service.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "fuzzing",
            "--max-examples",
            "10",
            "--max-time",
            str(BUDGET_S // 2),
            "--seed",
            "20261130",
            "--header",
            f"Authorization: Bearer {service.tokens[user]}",
            "--request-timeout",
            "20",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=BUDGET_S * 3,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    summary = json.loads(report.read_text())
    assert summary["failures"] == [] and summary["errors"] == []
    ops = summary["operations"]
    # within the time budget on a loaded machine most, ideally all, operations get their turn
    assert ops["total"] >= 25 and ops["tested"] >= 0.8 * ops["total"], ops
    # reports and exports take ~1 s each: on a loaded 2-core machine 60-400 cases fit
    assert summary["test_cases"]["generated"] >= 50
    # the patient routes were reached with real data, not only refused
    reached = summary["valid_rates"].get("GET /api/v1/patients/{pid}/visits", {})
    assert sum(v.get("accepted", 0) for v in reached.values()) > 0
