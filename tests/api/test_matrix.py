"""Role × endpoint × patient: every forbidden request is denied (401/403), every allowed one
succeeds, and no response ever carries the identifiers typed at registration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import IDENTIFIERS, USERS, Service, phantom_upload

CALLERS = [None, *USERS]  # None: no credentials


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {pid} and {date} filled in per patient
    kind: str  # "read" (team members), "write" (admin + team clinicians), "admin", "any"
    ok: tuple[int, ...] = (200,)
    body: Callable[[str], dict[str, object]] | None = None
    upload: bool = False


ENDPOINTS = [
    Endpoint("list patients", "GET", "/patients", "any"),
    Endpoint("cohort summary", "GET", "/cohort/summary", "any"),
    Endpoint("patient", "GET", "/patients/{pid}", "read"),
    Endpoint("visits", "GET", "/patients/{pid}/visits", "read"),
    Endpoint("measurements", "GET", "/patients/{pid}/visits/{date}/measurements", "read"),
    Endpoint("volumes", "GET", "/patients/{pid}/visits/{date}/volumes", "read"),
    Endpoint("volume file", "GET", "/patients/{pid}/visits/{date}/volumes/segmentation", "read"),
    Endpoint("forecasts", "GET", "/patients/{pid}/forecasts", "read"),
    Endpoint("report", "GET", "/patients/{pid}/report", "read"),
    Endpoint("native export", "GET", "/patients/{pid}/visits/{date}/export", "read"),
    Endpoint("upload visit", "POST", "/patients/{pid}/visits", "write", (202,), upload=True),
    Endpoint("update model", "POST", "/patients/{pid}/update", "write", (202,)),
    Endpoint(
        "forecast", "POST", "/patients/{pid}/forecasts", "write", (202,), lambda t: {"days": 90}
    ),
    Endpoint("plan results", "GET", "/patients/{pid}/plans", "read"),
    # 200 once a patient has a calibrated model (the forecast job test makes one), else 404:
    # either way authorisation passed
    Endpoint("target volumes", "GET", "/patients/{pid}/targets/export", "read", (200, 404)),
    Endpoint("regimen library", "GET", "/plans", "any"),
    Endpoint(
        "compare plans",
        "POST",
        "/patients/{pid}/plans/compare",
        "write",
        (202,),
        lambda t: {"plans": ["stupp", "rt"], "n_samples": 2},
    ),
    Endpoint(
        "optimise plan",
        "POST",
        "/patients/{pid}/plans/optimise",
        "write",
        (202,),
        lambda t: {"objective": "dose", "maxiter": 1, "n_samples": 2, "search_samples": 2},
    ),
    # a date with no visit: passing authorisation shows as 404 (nothing is deleted)
    Endpoint("delete visit", "DELETE", "/patients/{pid}/visits/1999-01-01", "write", (404,)),
    Endpoint(
        "identifier lookup",
        "POST",
        "/patients/lookup",
        "link",
        body=lambda team: {"identifier": IDENTIFIERS[team]},
    ),
    Endpoint(
        "register patient",
        "POST",
        "/patients",
        "create",
        (201,),
        body=lambda team: {"identifier": f"NEW-{team}-1", "team": team},
    ),
    Endpoint("users", "GET", "/admin/users", "admin"),
    Endpoint("audit verify", "GET", "/admin/audit/verify", "admin"),
    Endpoint(
        "assign patient",
        "POST",
        "/admin/patients/{pid}/teams",
        "admin",
        (204,),
        body=lambda team: {"team": team},
    ),
]


def allowed(user: str | None, ep: Endpoint, team: str) -> bool:
    if user is None:
        return False
    role, teams = USERS[user]
    mine = role == "admin" or team in teams
    return {
        "any": True,
        "read": mine,
        "write": mine and role != "researcher",
        "link": mine and role != "researcher",
        "create": mine and role != "researcher",
        "admin": role == "admin",
    }[ep.kind]


def _call(svc: Service, c: httpx.Client, ep: Endpoint, team: str, tmp: Path) -> httpx.Response:
    path = ep.path.format(pid=svc.patients[team], date=svc.visit[team])
    if ep.upload:
        files = phantom_upload(tmp, seed=len(team))
        data = {"date": "2021-09-01", "segment": "none", "update_model": "false"}
        return c.post(path, files=files, data=data)
    body = ep.body(team) if ep.body else None
    return c.request(ep.method, path, json=body)


def test_every_forbidden_request_is_denied(service: Service, tmp_path: Path) -> None:
    denied = forbidden = ok = allowed_n = 0
    failures: list[str] = []
    bodies: list[str] = []
    for user in CALLERS:
        with service.client(user) as c:
            for ep in ENDPOINTS:
                for team in ("team-a", "team-b"):
                    r = _call(service, c, ep, team, tmp_path)
                    bodies.append(r.text)
                    what = f"{user} {ep.name} {team}: {r.status_code} {r.text[:80]}"
                    if allowed(user, ep, team):
                        allowed_n += 1
                        ok += r.status_code in ep.ok
                        if r.status_code not in ep.ok:
                            failures.append("allowed but failed: " + what)
                    else:
                        forbidden += 1
                        expect = 401 if user is None else 403
                        denied += r.status_code == expect
                        if r.status_code != expect:
                            failures.append("forbidden but not denied: " + what)
    assert failures == []
    assert denied == forbidden and ok == allowed_n
    assert forbidden > 80 and allowed_n > 40  # the matrix is not trivially small
    for identifier in IDENTIFIERS.values():
        assert not any(identifier in b for b in bodies)


@pytest.mark.parametrize("user", ["clin-a", "res-a"])
def test_unknown_patient_answers_like_another_team(service: Service, user: str) -> None:
    # not an oracle for which pseudonyms exist: unknown and other-team patients look the same
    with service.client(user) as c:
        other = c.get(f"/patients/{service.patients['team-b']}").status_code
        unknown = c.get("/patients/BT-AAAAAAAAAA").status_code
    assert other == unknown == 403
    with service.client("admin") as c:
        assert c.get("/patients/BT-AAAAAAAAAA").status_code == 404


def test_researcher_sees_pseudonyms_only(service: Service) -> None:
    with service.client("res-a") as c:
        listed = c.get("/patients").json()
        ids = {p["id"] for p in listed}
        assert service.patients["team-a"] in ids and service.patients["team-b"] not in ids
        assert all(p["teams"] == ["team-a"] for p in listed)
        assert (
            c.post("/patients/lookup", json={"identifier": IDENTIFIERS["team-a"]}).status_code
            == 403
        )
        cohort = c.get("/cohort/summary").json()
    assert cohort["patients"] == len(ids) and cohort["segmented_visits"] >= 1
    assert cohort["wt_volume_ml"]["median"] > 0


def test_clinician_registers_and_finds_own_patient(service: Service) -> None:
    with service.client("clin-b") as c:
        made = c.post("/patients", json={"identifier": "MRN-NEW-777", "team": "team-b"})
        assert made.status_code == 201 and made.json()["created"] is True
        pid = made.json()["id"]
        assert pid.startswith("BT-") and "777" not in pid
        found = c.post("/patients/lookup", json={"identifier": "MRN-NEW-777"}).json()
        assert found["id"] == pid
        # registering it again is idempotent
        assert (
            c.post("/patients", json={"identifier": "MRN-NEW-777", "team": "team-b"}).json()[
                "created"
            ]
            is False
        )
    with service.client("clin-a") as c:  # another team can neither see nor claim it
        assert c.get(f"/patients/{pid}").status_code == 403
        r = c.post("/patients", json={"identifier": "MRN-NEW-777", "team": "team-a"})
        assert r.status_code == 403
