"""Real-browser tests of the web viewer: Playwright (Python) driving Debian's ``chromium``.

Chromium runs headless with WebGL2 from its software rasteriser (ANGLE over SwiftShader,
``braintwin.web.bench.CHROMIUM_ARGS``): the rendering checks run, they are never skipped.
Without Playwright or chromium the tests skip on a developer machine and fail in CI (``CI``
set), where ``scripts/install-system.sh`` installs chromium before pytest.

One server for the session (``web``): the API tests' service (``tests/api/conftest.py``: an admin,
clinicians of team A and B, a researcher of team A, a phantom patient per team) plus

* a patient of team A built with the real pipeline from the cropped real follow-up pair shipped
  in ``tests/data/progression`` (TCIA Brain-Tumor-Progression, pair 10; provenance in
  ``tests/data/PROVENANCE.md``): both scans ingested through the twin with their expert masks,
  then, through the service's job queue and a real worker, a calibrated posterior, forecasts
  30 and 365 days ahead, and a plan comparison;
* an empty patient of team A that receives the browser upload.

Screenshots of every step are kept in ``$BRAINTWIN_TEST_ARTIFACTS/web`` (default
``build/test-artifacts/web``, git-ignored).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np
import pytest
from tests.api.conftest import PASSWORD, Service, make_service  # noqa: F401 (a fixture)

from braintwin.api import accounts
from braintwin.api.db import ServiceDB
from braintwin.twin import IngestOptions, Twin
from braintwin.types import Modality
from braintwin.web.bench import CHROMIUM_ARGS, READY, find_chromium, login

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
PAIR = REPO / "tests" / "data" / "progression" / "10"
#: The pair's scan dates (its supplementary.csv) and the true voxel size (headers claim 1 mm).
PAIR_VISITS = (
    ("Pre_Scan_T1", "Pre_Mask", dt.date(1991, 7, 4)),
    ("Post_Scan_T1", "Post_Mask", dt.date(1991, 10, 2)),
)
PAIR_SPACING = (1.0, 1.0, 5.0)
FORECAST_DAYS = (30, 365)
COMPARED_PLANS = ("stupp", "none")
JOB_TIMEOUT_S = 600.0


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI (scripts/install-system.sh installs chromium)")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for the screenshots (kept after the run)."""
    root = Path(os.environ.get("BRAINTWIN_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    folder = root / "web"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # this run's screenshots only
        old.unlink()
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright (Python)")
    path = find_chromium()
    if path is None:
        _missing("chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(path), args=list(CHROMIUM_ARGS))
        page = b.new_page()
        gl = page.evaluate("() => !!document.createElement('canvas').getContext('webgl2')")
        page.close()
        assert gl, "headless chromium gave no WebGL2 context (the viewer cannot draw)"
        yield b
        b.close()


@dataclass
class Web:
    """The session's server and what the tests need to know about its data."""

    svc: Service
    pid: str  # the real two-visit patient
    upload_pid: str  # the empty patient for the browser upload
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed_s: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.svc.url

    def api(self, user: str, method: str, path: str, **kw: Any) -> Any:
        with self.svc.client(user) as c:
            r = c.request(method, path, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def volume(self, user: str, path: str) -> np.ndarray:
        """A NIfTI volume served by the API, as an array."""
        with self.svc.client(user) as c:
            r = c.get(path)
        assert r.status_code == 200, f"GET {path}: {r.status_code}"
        return np.asarray(nib.Nifti1Image.from_bytes(gzip.decompress(r.content)).dataobj)


def _ingest_pair(svc: Service) -> str:
    store = svc.open_store()
    twin = Twin.open("WEB-PROGRESSION-10", store=store, create=True)
    for scan, mask, date in PAIR_VISITS:
        opts = IngestOptions(
            modality=Modality.T1CE,
            spacing_override=PAIR_SPACING,
            segmentation=PAIR / f"{mask}.nii.gz",
            segment=None,
            classify=False,
            update_model=False,
            n4=False,
        )
        twin.add_visit(PAIR / f"{scan}.nii.gz", date, options=opts)
    accounts.assign_patient(ServiceDB(store.engine), twin.id, "team-a")
    store.close()
    return twin.id


def wait_job(web_or_svc: Service, user: str, job_id: int, timeout_s: float = JOB_TIMEOUT_S) -> Any:
    end = time.monotonic() + timeout_s
    with web_or_svc.client(user) as c:
        while True:
            job = c.get(f"/jobs/{job_id}").json()
            if job["status"] in ("done", "failed") or time.monotonic() > end:
                return job
            time.sleep(0.5)


@pytest.fixture(scope="session")
def web(make_service: Callable[..., Service]) -> Iterator[Web]:  # noqa: F811
    t0 = time.perf_counter()
    svc = make_service()
    times = {"server": time.perf_counter() - t0}
    pid = _ingest_pair(svc)
    times["ingest_pair"] = time.perf_counter() - t0 - times["server"]
    with svc.client("clin-a") as c:
        r = c.post("/patients", json={"identifier": "WEB-UPLOAD-TARGET", "team": "team-a"})
        assert r.status_code == 201, r.text
        upload_pid = r.json()["id"]
        queued = {
            f"forecast_{d}": c.post(f"/patients/{pid}/forecasts", json={"days": d}).json()
            for d in FORECAST_DAYS
        }
        body = {"plans": list(COMPARED_PLANS), "n_samples": 16, "horizon_days": 365}
        queued["plans"] = c.post(f"/patients/{pid}/plans/compare", json=body).json()
    svc.start_worker()
    t1 = time.perf_counter()
    jobs = {name: wait_job(svc, "clin-a", j["id"]) for name, j in queued.items()}
    times["model_jobs"] = time.perf_counter() - t1
    for name, job in jobs.items():
        assert job["status"] == "done", f"seeding job {name}: {job}"
    yield Web(svc, pid, upload_pid, jobs, {k: round(v, 1) for k, v in times.items()})
    svc.stop_workers()


@pytest.fixture(scope="session")
def open_page(browser: Browser, web: Web, artifacts: Path) -> Iterator[Callable[..., Page]]:
    """``open_page(user)``: a fresh browser profile signed in as ``user`` (on the patient
    list). Uncaught page errors are collected in ``page_errors`` and written to the artifacts."""
    contexts = []
    errors: list[str] = []

    def make(user: str, viewport: tuple[int, int] = (1400, 1000)) -> Page:
        ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(f"{user}: {e}"))
        page.on(
            "console",
            lambda m: (
                errors.append(f"{user} console.{m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        login(page, web.url, user, PASSWORD)
        return page

    yield make
    (artifacts / "console.log").write_text("\n".join(errors) + "\n")
    for ctx in contexts:
        ctx.close()


def open_patient(page: Page, pid: str, timeout_ms: float = 120_000) -> None:
    """Follow the patient's link in the list and wait until the viewer is ready."""
    page.click(f'#patient-list tr[data-patient="{pid}"] a[href="#/patients/{pid}"]')
    page.wait_for_selector(READY, state="attached", timeout=timeout_ms)
