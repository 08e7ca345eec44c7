"""Background jobs through a real server and real worker processes.

50 concurrent uploads by three users end as exactly 50 stored visits (none lost, none twice);
progress is visible by polling and by server-sent events; a worker SIGKILLed in the middle of
storing a visit leaves no half-written twin, and its job is retried, then failed with the
reason once its attempts are spent.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import Service, phantom_upload

FAST = {"segment": "none", "update_model": "false"}


@pytest.fixture(scope="module", autouse=True)
def _stop_workers(service: Service) -> Iterator[None]:
    yield
    service.stop_workers()  # later modules queue jobs they do not want run


def _wait(svc: Service, job_ids: list[int], timeout_s: float = 150.0) -> list[dict[str, object]]:
    end = time.monotonic() + timeout_s
    with svc.client("admin") as c:
        while True:
            c.get(f"/jobs/{job_ids[0]}")  # recovers dead workers' jobs
            listed = {j["id"]: j for j in c.get("/jobs").json()}
            jobs = [listed[j] for j in job_ids]
            if all(j["status"] in ("done", "failed") for j in jobs) or time.monotonic() > end:
                return jobs
            time.sleep(0.5)


def test_concurrent_uploads_lose_and_duplicate_nothing(service: Service, tmp_path: Path) -> None:
    # 5 new patients per team, registered by their clinicians; 5 uploads per patient
    patients: list[tuple[str, list[str]]] = []
    for team, clin in (("team-a", "clin-a"), ("team-b", "clin-b")):
        with service.client(clin) as c:
            for i in range(5):
                r = c.post("/patients", json={"identifier": f"CONC-{team}-{i}", "team": team})
                patients.append((r.json()["id"], [clin, "admin"]))
    uploads = []
    for p, (pid, users) in enumerate(patients):
        for k in range(5):
            date = dt.date(2021, 7, 1) + dt.timedelta(days=7 * k)
            uploads.append(
                (pid, users[k % 2], date, 1000 + 100 * p + k)
            )  # seed 0: the seeded visit
    payloads = {seed: phantom_upload(tmp_path, seed) for *_, seed in uploads}

    def send(item: tuple[str, str, dt.date, int]) -> int:
        pid, user, date, seed = item
        with service.client(user) as c:
            r = c.post(
                f"/patients/{pid}/visits",
                files=payloads[seed],
                data={"date": date.isoformat(), **FAST},
            )
        assert r.status_code == 202, r.text
        return int(r.json()["id"])

    staged = service.staged()
    with ThreadPoolExecutor(max_workers=16) as pool:
        job_ids = list(pool.map(send, uploads))
    assert len(uploads) == 50 and len(set(job_ids)) == 50
    service.start_worker()
    service.start_worker()
    jobs = _wait(service, job_ids)
    assert [j["status"] for j in jobs] == ["done"] * 50, [j["error"] for j in jobs]
    assert [(j["attempts"], j["result"]["action"]) for j in jobs] == [(1, "stored")] * 50
    with service.client("admin") as c:
        for pid, _ in patients:
            stored = [v["date"] for v in c.get(f"/patients/{pid}/visits").json()]
            mine = [j["result"]["visit"] for j in jobs if j["patient_id"] == pid]
            assert len(mine) == 5 and set(mine) <= set(stored)
            assert len(stored) == len(set(stored)) == 5
    assert service.staged() <= staged  # the uploads of the finished jobs are removed


def test_progress_by_polling_and_server_sent_events(service: Service, tmp_path: Path) -> None:
    if not service.workers:
        service.start_worker()
    pid = service.patients["team-a"]
    with service.client("clin-a") as c:
        r = c.post(
            f"/patients/{pid}/visits",
            files=phantom_upload(tmp_path, 999),
            data={"date": "2022-01-10", **FAST},
        )
        job = r.json()
        assert r.status_code == 202 and job["status"] == "queued" and job["kind"] == "ingest"
        events: list[tuple[str, dict[str, object]]] = []
        with c.stream("GET", f"/jobs/{job['id']}/events", timeout=120) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kind = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
    assert events[-1][0] == "done" and events[-1][1]["status"] == "done"
    assert all(k == "progress" for k, _ in events[:-1])
    measurements = httpx.get(
        f"{service.api}/patients/{pid}/visits/{events[-1][1]['result']['visit']}/measurements",
        headers={"Authorization": f"Bearer {service.tokens['res-a']}"},
    ).json()
    assert measurements["WT"]["volume_ml"] > 0
    with service.client("clin-b") as c:  # another team's job: denied, like a missing one
        assert c.get(f"/jobs/{job['id']}").status_code == 403
        assert c.get("/jobs/999999").status_code == 403
    with service.client("admin") as c:
        assert c.get("/jobs/999999").status_code == 404


def test_bad_input_fails_the_job_with_a_one_line_reason(service: Service, tmp_path: Path) -> None:
    if not service.workers:
        service.start_worker()
    with service.client("clin-a") as c:
        pid = c.post("/patients", json={"identifier": "EMPTY-1", "team": "team-a"}).json()["id"]
        forecast = c.post(f"/patients/{pid}/forecasts", json={"days": 90}).json()
        future = c.post(
            f"/patients/{pid}/visits",
            files=phantom_upload(tmp_path, 4242),
            data={"date": "2099-01-01", **FAST},
        ).json()
    done = _wait(service, [forecast["id"], future["id"]], 60)
    assert [j["status"] for j in done] == ["failed", "failed"]
    assert "no visits" in str(done[0]["error"])
    assert "in the future" in str(done[1]["error"])
    for j in done:  # one line, no server path
        assert "\n" not in str(j["error"]) and str(service.home) not in str(j["error"])
    with service.client("clin-a") as c:
        assert c.get(f"/patients/{pid}/visits").json() == []  # nothing stored


def test_plan_requests_are_checked_and_need_a_calibrated_model(service: Service) -> None:
    if not service.workers:
        service.start_worker()
    with service.client("clin-a") as c:
        assert "stupp" in {r["name"] for r in c.get("/plans").json()}
        pid = c.post("/patients", json={"identifier": "PLANS-1", "team": "team-a"}).json()["id"]
        bad = c.post(f"/patients/{pid}/plans/compare", json={"plans": ["stup"]})
        assert bad.status_code == 400 and "unknown plan 'stup'" in bad.json()["detail"]
        over = {
            "name": "x",
            "radiotherapy": {"phases": [{"fractions": 50, "dose_per_fraction_gy": 2}]},
        }
        bad = c.post(f"/patients/{pid}/plans/compare", json={"custom": [over]})
        assert bad.status_code == 400 and "total dose 100" in bad.json()["detail"]
        assert c.post(f"/patients/{pid}/plans/compare", json={}).status_code == 400
        job = c.post(f"/patients/{pid}/plans/compare", json={"plans": ["stupp"]}).json()
    (done,) = _wait(service, [job["id"]], 60)
    assert done["status"] == "failed"
    assert "no calibrated growth model" in str(done["error"]) and "\n" not in str(done["error"])
    with service.client("clin-a") as c:
        assert c.get(f"/patients/{pid}/plans").json() == []


def test_sigkilled_worker_leaves_no_half_written_twin(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    svc = make_service()
    pid = svc.patients["team-a"]
    files = phantom_upload(tmp_path, 7)
    with svc.client("clin-a") as c:
        job = c.post(
            f"/patients/{pid}/visits", files=files, data={"date": "2021-08-01", **FAST}
        ).json()
    kill = {"BRAINTWIN_TEST_KILL_AT": "objects-published"}  # files moved, DB not committed
    for attempt in (1, 2):
        w = svc.start_worker(**kill)
        assert w.wait(timeout=60) == -9  # SIGKILL
        with svc.client("clin-a") as c:
            visits = c.get(f"/patients/{pid}/visits").json()
        assert [v["date"] for v in visits] == [svc.visit["team-a"]]  # nothing half-stored
        time.sleep(1.6)  # the lease (1.5 s) runs out
        (state,) = _wait(svc, [job["id"]], 0)
        assert state["attempts"] == attempt
        if attempt == 1:
            assert state["status"] == "queued" and "stopped while running" in state["message"]
    assert state["status"] == "failed"
    assert "gave up after 2 attempt(s)" in str(state["error"])
    assert svc.staged() == set()
    # the same upload again, with a healthy worker: stored once, store consistent
    with svc.client("clin-a") as c:
        again = c.post(
            f"/patients/{pid}/visits", files=files, data={"date": "2021-08-01", **FAST}
        ).json()
    svc.start_worker()
    (done,) = _wait(svc, [again["id"]], 60)
    assert done["status"] == "done" and done["attempts"] == 1
    with svc.open_store() as st:  # opening tidies what the killed writes left
        assert st.verify().ok
        assert len(st.visit_dates(pid)) == 2


@pytest.mark.slow
def test_real_dicom_zip_is_ingested_and_deidentified(
    service: Service, shared_data: Path, tmp_path: Path
) -> None:
    import zipfile

    series = shared_data / "dicom" / "siemens_skyra_mprage"
    if not series.is_dir():
        pytest.skip("the shared DICOM series is absent")
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(series.glob("*.dcm")):
            zf.write(f, f"PATIENT_NAME_FOLDER/{f.name}")  # folder names are not kept
    if not service.workers:
        service.start_worker()
    with service.client("clin-b") as c:
        pid = c.post("/patients", json={"identifier": "DICOM-CASE-1", "team": "team-b"}).json()[
            "id"
        ]
        job = c.post(
            f"/patients/{pid}/visits",
            files={"dicom": archive.read_bytes()},
            data={"segment": "none", "update_model": "false", "date": "2013-03-08"},
        ).json()
    (done,) = _wait(service, [job["id"]], 300)
    assert done["status"] == "done", done["error"]
    assert done["result"]["modalities"] == ["t1"]
    with service.client("clin-b") as c:
        (visit,) = c.get(f"/patients/{pid}/visits").json()
        assert visit["date"] < "2013-03-08"  # shifted
        vol = c.get(f"/patients/{pid}/visits/{visit['date']}/volumes/t1")
    assert vol.status_code == 200 and vol.content[:2] == b"\x1f\x8b"
    assert b"PATIENT_NAME_FOLDER" not in vol.content


@pytest.mark.slow
def test_forecast_job_and_its_maps(service: Service) -> None:
    if not service.workers:
        service.start_worker()
    pid = service.patients["team-b"]
    with service.client("clin-b") as c:
        job = c.post(f"/patients/{pid}/forecasts", json={"days": 60}).json()
    (done,) = _wait(service, [job["id"]], 600)
    assert done["status"] == "done", done["error"]
    with service.client("clin-b") as c:
        forecasts = c.get(f"/patients/{pid}/forecasts").json()
        assert forecasts and forecasts[-1]["volumes"]
        fc = forecasts[-1]
        vol = c.get(f"/patients/{pid}/forecasts/{fc['id']}/volumes/{fc['volumes'][0]}")
        assert vol.status_code == 200 and vol.content[:2] == b"\x1f\x8b"
        assert c.get(f"/patients/{pid}").json()["forecasts"] >= 1
        # now calibrated: the target volumes (NIfTI + RTSTRUCT, native grid) as a zip
        tv = c.get(f"/patients/{pid}/targets/export")
        assert tv.status_code == 200, tv.text
        import io
        import zipfile

        names = set(zipfile.ZipFile(io.BytesIO(tv.content)).namelist())
        assert {"ctv_model.nii.gz", "ctv_standard.nii.gz", "ctv_rtstruct.dcm"} <= names
    with service.client("clin-a") as c:  # another team
        assert c.get(f"/patients/{pid}/forecasts").status_code == 403
        assert c.get(f"/patients/{pid}/targets/export").status_code == 403
