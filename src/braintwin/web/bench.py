"""``braintwin bench viewer``: how fast the viewer's patient page becomes interactive.

Headless Chromium (Debian's ``chromium``, driven by Playwright; WebGL2 through its software
rasteriser) signs in, opens a patient and waits for ``data-ready="true"`` (the first volume and
its segmentation overlay drawn). Two figures per repeat, each from a fresh browser profile:

* cold: from following the patient's link in the list to ready, nothing of the patient cached;
* warm: the same browser profile, a new tab: sign in, follow the patient's link to ready, the
  volumes in the HTTP cache (revalidated with their ETag: a 304 instead of the body). Closing
  the first tab is timed apart (``teardown_s``).

Bytes are what the network delivered (headers and bodies as sent, compressed or not), counted
by the browser itself (DevTools ``Network.loadingFinished``). Without ``url`` a server is started
on a throw-away home holding the shipped demo BraTS case (four 240 x 240 x 155 volumes, the
expert label as segmentation) and a throw-away admin account.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from braintwin.errors import BraintwinError, ConfigurationError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

__all__ = [
    "CHROMIUM_ARGS",
    "READY",
    "PageLoad",
    "Traffic",
    "find_chromium",
    "login",
    "open_chromium",
    "require_browser",
    "run_viewer_bench",
    "time_patient_page",
]

#: WebGL2 in headless Chromium without a GPU: ANGLE over SwiftShader (software).
CHROMIUM_ARGS = (
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
)
#: The viewer's readiness signal (first volume + overlay drawn).
READY = 'body[data-ready="true"], #viewer[data-ready="true"]'
_CLI = "from braintwin.cli import main; main()"


def find_chromium() -> Path | None:
    """``$BRAINTWIN_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on the PATH."""
    given = os.environ.get("BRAINTWIN_CHROMIUM")
    if given:
        return Path(given) if Path(given).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_browser() -> Path:
    """The Chromium binary; a one-line error with the fix when Playwright or it is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        raise ConfigurationError(
            "Playwright (Python) is not installed",
            "pip install playwright (no browser download needed: it drives Debian's chromium)",
        ) from err
    path = find_chromium()
    if path is None:
        raise ConfigurationError(
            "no Chromium browser found",
            "install it (sudo apt-get install chromium, or bash scripts/install-system.sh), "
            "or set BRAINTWIN_CHROMIUM to its path",
        )
    return path


@contextlib.contextmanager
def open_chromium() -> Iterator[Browser]:
    """A headless Chromium with WebGL2 (closed on exit)."""
    from playwright.sync_api import sync_playwright

    path = require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(path), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def login(page: Page, base_url: str, user: str, password: str, timeout_ms: float = 30_000) -> None:
    """Sign in through the page's form and wait for the patient list (or raise with the
    page's error banner)."""
    page.goto(f"{base_url}/#/login")
    page.fill("#login-name", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector(
        "#patient-list tbody tr, #error-banner:not([hidden])", state="visible", timeout=timeout_ms
    )
    if page.is_visible("#error-banner"):
        raise BraintwinError(
            f"sign-in refused: {page.inner_text('#error-banner').strip()}",
            "check --user and --password",
        )


@dataclass
class Traffic:
    """Network use seen by the browser since the last ``reset``."""

    bytes: int = 0
    requests: int = 0
    not_modified: int = 0
    from_cache: int = 0
    first_sent: float | None = None  # browser clock (s)
    last_done: float | None = None
    started: dict[str, tuple[float, str]] = field(default_factory=dict)  # id -> (t, path)
    durations: list[tuple[float, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.bytes = self.requests = self.not_modified = self.from_cache = 0
        self.first_sent = self.last_done = None
        self.started.clear()
        self.durations.clear()

    def slowest(self, n: int = 3) -> list[str]:
        """The ``n`` slowest requests as "seconds path" (patient pseudonyms masked)."""
        top = sorted(self.durations, reverse=True)[:n]
        return [f"{t:.2f} s {re.sub(r'BT-[A-Z2-7]{10}', '<pid>', path)}" for t, path in top]

    @property
    def span_s(self) -> float:
        """From the first request sent to the last response received (browser clock)."""
        if self.first_sent is None or self.last_done is None:
            return 0.0
        return max(0.0, self.last_done - self.first_sent)

    def attach(self, page: Page) -> None:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.responseReceivedExtraInfo", self._raw_response)
        cdp.on("Network.requestServedFromCache", self._cached)
        cdp.on("Network.requestWillBeSent", self._sent)

    def _sent(self, event: dict[str, Any]) -> None:
        t = float(event.get("timestamp", 0.0))
        self.first_sent = t if self.first_sent is None else min(self.first_sent, t)
        url = str(event.get("request", {}).get("url", ""))
        if url.startswith("http"):
            self.started[str(event.get("requestId"))] = (t, urlsplit(url).path)

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength", 0))
        t = float(event.get("timestamp", 0.0))
        self.last_done = t if self.last_done is None else max(self.last_done, t)
        begun = self.started.pop(str(event.get("requestId")), None)
        if begun is not None:
            self.durations.append((t - begun[0], begun[1]))

    def _response(self, event: dict[str, Any]) -> None:
        self.requests += 1

    def _raw_response(self, event: dict[str, Any]) -> None:
        # a revalidated cache entry is reported as 200 (the cached copy); the wire status,
        # 304, is only in the raw headers' event
        if int(event.get("statusCode", 0)) == 304:
            self.not_modified += 1

    def _cached(self, _event: dict[str, Any]) -> None:
        self.from_cache += 1


@dataclass
class PageLoad:
    """One measured opening of the patient page (``network_s``: first request to last
    response; the rest of ``seconds`` is the page's own work: decoding, drawing)."""

    seconds: float
    network_s: float
    bytes: int
    requests: int
    not_modified: int
    from_cache: int
    slowest: list[str]
    teardown_s: float | None = None  # leaving the previous page (warm loads only)
    settled_s: float | None = None  # ready, and the GPU work queued by then finished


def _settle(page: Page, t0: float) -> float:
    """Seconds from ``t0`` until the viewer canvas's queued GL work is done (``gl.finish``):
    data-ready fires when NiiVue has issued its drawing, which the GPU (here software) may
    still be executing; until then the page does not respond to the mouse."""
    page.evaluate(
        "() => { const c = document.querySelector('#viewer-canvas');"
        " const gl = c && c.getContext('webgl2'); if (gl) gl.finish(); }"
    )
    return round(time.perf_counter() - t0, 3)


def _load(traffic: Traffic, t0: float) -> PageLoad:
    return PageLoad(
        round(time.perf_counter() - t0, 3),
        round(traffic.span_s, 3),
        traffic.bytes,
        traffic.requests,
        traffic.not_modified,
        traffic.from_cache,
        traffic.slowest(),
    )


def time_patient_page(
    browser: Browser,
    base_url: str,
    user: str,
    password: str,
    pid: str,
    *,
    timeout_ms: float = 120_000,
    screenshot: Path | None = None,
) -> tuple[PageLoad, PageLoad]:
    """(cold, warm) openings of ``#/patients/<pid>`` in a fresh browser profile."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(timeout_ms)
    step = "signing in"
    try:
        page = context.new_page()
        traffic = Traffic()
        traffic.attach(page)
        login(page, base_url, user, password, timeout_ms)
        link = page.locator(f'#patient-list tr[data-patient="{pid}"] a[href="#/patients/{pid}"]')
        if link.count() == 0:
            raise BraintwinError(
                "the patient is not in the list of this account", "check --patient and --user"
            )
        step = "opening the patient (cold)"
        traffic.reset()
        t0 = time.perf_counter()
        link.click()
        page.wait_for_selector(READY, state="attached")
        cold = _load(traffic, t0)
        cold.settled_s = _settle(page, t0)
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
        # warm: the same profile (its HTTP cache holds the volumes), a new tab: sign in and
        # open the patient again. Closing the old tab first keeps its teardown (WebGL
        # contexts, tens of MB of buffers) out of the figure; it is reported apart.
        step = "closing the first tab"
        t0 = time.perf_counter()
        page.close()
        teardown_s = time.perf_counter() - t0
        step = "signing in again (warm)"
        page = context.new_page()
        traffic = Traffic()
        traffic.attach(page)
        login(page, base_url, user, password, timeout_ms)
        step = "opening the patient again (warm)"
        traffic.reset()
        t0 = time.perf_counter()
        page.locator(f'#patient-list tr[data-patient="{pid}"] a[href="#/patients/{pid}"]').click()
        page.wait_for_selector(READY, state="attached")
        warm = _load(traffic, t0)
        warm.settled_s = _settle(page, t0)
        warm.teardown_s = round(teardown_s, 3)
        return cold, warm
    except PlaywrightTimeout as err:
        raise BraintwinError(
            f"the viewer did not get through {step} within {timeout_ms / 1000:.0f} s",
            "is the machine overloaded? try --timeout with more seconds",
        ) from err
    finally:
        context.close()


# -- a server of its own ----------------------------------------------------------------------
def _prepare_demo_home(home: Path) -> tuple[str, str, str]:
    """A home with the demo case (expert label as segmentation) and a bench admin account:
    (user, password, patient)."""
    from braintwin.api import accounts
    from braintwin.api.db import ServiceDB
    from braintwin.store import Store
    from braintwin.twin import IngestOptions, Twin
    from braintwin.twin.demo import demo_case_dir

    store = Store.open(home=home)
    db = ServiceDB(store.engine)
    user, password = "bench-viewer", "bench-" + os.urandom(12).hex()
    accounts.add_user(db, user, "admin", password)
    accounts.add_team(db, "bench")
    case = demo_case_dir()
    twin = Twin.open("bench-viewer-patient", store=store, create=True)
    opts = IngestOptions(
        segment=None,
        classify=False,
        update_model=False,
        n4=False,
        segmentation=next(case.glob("*_seg.nii.gz")),
    )
    images = home.parent / "images"  # the four modalities without the label file
    images.mkdir()
    for f in case.glob("*.nii.gz"):
        if not f.name.endswith("_seg.nii.gz"):
            shutil.copy(f, images / f.name)
    twin.add_visit(images, dt.date(2018, 1, 15), options=opts)
    accounts.assign_patient(db, twin.id, "bench")
    store.close()
    return user, password, twin.id


def _start_server(home: Path) -> tuple[str, subprocess.Popen[bytes]]:
    from braintwin.api.bench import free_port, wait_for_server

    port = free_port()
    env = {**os.environ, "BRAINTWIN_HOME": str(home)}
    env.pop("BRAINTWIN_DB_URL", None)
    cmd = [sys.executable, "-c", _CLI, "serve", "--no-worker", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, proc)
    except RuntimeError as err:
        proc.kill()
        raise BraintwinError(f"the bench server did not start: {err}") from err
    return url, proc


def _first_patient(url: str, user: str, password: str) -> str:
    import httpx

    r = httpx.post(f"{url}/api/v1/auth/login", json={"username": user, "password": password})
    if r.status_code != 200:
        raise BraintwinError("sign-in refused by the server", "check --user and --password")
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    rows = httpx.get(f"{url}/api/v1/patients", headers=headers).json()
    rows = [p for p in rows if p["n_visits"] > 0]
    if not rows:
        raise BraintwinError("this account sees no patient with a visit", "give --patient ID")
    return str(max(rows, key=lambda p: p["n_visits"])["id"])


def run_viewer_bench(
    *,
    url: str | None = None,
    home: Path | None = None,
    user: str | None = None,
    password: str | None = None,
    pid: str | None = None,
    repeats: int = 3,
    timeout_s: float = 120.0,
    screenshot: Path | None = None,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Median cold/warm time to interactive of a patient page, and the bytes moved.

    ``url``: a running server; ``home``: start one on that home; neither: start one on a
    throw-away home with the demo case. ``user``/``password`` are needed unless neither is given.
    """
    require_browser()
    if url is not None and home is not None:
        raise BraintwinError("give --url or --home, not both")
    if (url is not None or home is not None) and (user is None or password is None):
        raise BraintwinError(
            "give --user and --password with --url or --home", "an account of that server"
        )
    with tempfile.TemporaryDirectory(prefix="braintwin-bench-viewer-") as tmp:
        proc = None
        prepare_s = 0.0
        try:
            t0 = time.perf_counter()
            if url is None and home is None:
                echo("preparing a server with the demo case (four 240x240x155 volumes)...")
                home = Path(tmp) / "home"
                user, password, pid = _prepare_demo_home(home)
            if url is None:
                assert home is not None
                url, proc = _start_server(home)
            prepare_s = time.perf_counter() - t0
            assert user is not None and password is not None
            pid = pid or _first_patient(url, user, password)
            shapes = _volume_shapes(url, user, password, pid)
            echo(f"patient page of {pid}: latest visit's volumes {shapes}")
            loads: list[tuple[PageLoad, PageLoad]] = []
            for i in range(repeats):  # a fresh browser each time: repeats are independent
                with open_chromium() as browser:
                    shot = screenshot if i == 0 else None
                    cold, warm = time_patient_page(
                        browser,
                        url,
                        user,
                        password,
                        pid,
                        timeout_ms=timeout_s * 1000,
                        screenshot=shot,
                    )
                    echo(
                        f"run {i + 1}: cold {cold.seconds:.2f} s (GL done {cold.settled_s:.2f} s, "
                        f"{cold.bytes / 1e6:.1f} MB, "
                        f"network {cold.network_s:.2f} s), warm {warm.seconds:.2f} s "
                        f"(GL done {warm.settled_s:.2f} s, "
                        f"{warm.bytes / 1e6:.2f} MB, {warm.not_modified} revalidated, "
                        f"{warm.from_cache} from cache, network {warm.network_s:.2f} s; "
                        f"closing the first tab took {warm.teardown_s:.2f} s)"
                    )
                    echo(f"  slowest requests, cold: {'; '.join(cold.slowest)}")
                    echo(f"  slowest requests, warm: {'; '.join(warm.slowest)}")
                    loads.append((cold, warm))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    result = _summary(loads, echo)
    return {
        **result,
        "volumes": shapes,
        "server": "given" if proc is None else "started",
        "prepare_s": round(prepare_s, 1),
    }


def _volume_shapes(url: str, user: str, password: str, pid: str) -> dict[str, list[int]]:
    import httpx

    with httpx.Client(base_url=f"{url}/api/v1", timeout=30) as c:
        r = c.post("/auth/login", json={"username": user, "password": password})
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        visits = c.get(f"/patients/{pid}/visits").json()
        if not visits:
            raise BraintwinError("the patient has no visit to show", "give --patient ID")
        rows = c.get(f"/patients/{pid}/visits/{visits[-1]['date']}/volumes").json()
    return {v["name"]: list(v["shape"]) for v in rows}


def _summary(loads: list[tuple[PageLoad, PageLoad]], echo: Callable[[str], Any]) -> dict[str, Any]:
    cold = statistics.median(c.seconds for c, _ in loads)
    warm = statistics.median(w.seconds for _, w in loads)
    cold_gl = statistics.median(c.settled_s or 0.0 for c, _ in loads)
    warm_gl = statistics.median(w.settled_s or 0.0 for _, w in loads)
    echo(f"patient page interactive: cold {cold:.2f} s, warm {warm:.2f} s (median of {len(loads)})")
    echo(f"with the GPU work done: cold {cold_gl:.2f} s, warm {warm_gl:.2f} s")
    echo(f"target: 2 s on localhost -> {'met' if max(cold, warm) <= 2.0 else 'NOT met'}")
    return {
        "cold_s": cold,
        "warm_s": warm,
        "cold_gl_done_s": cold_gl,
        "warm_gl_done_s": warm_gl,
        "cold_bytes": int(statistics.median(c.bytes for c, _ in loads)),
        "warm_bytes": int(statistics.median(w.bytes for _, w in loads)),
        "target_s": 2.0,
        "target_met": max(cold, warm) <= 2.0,
        "repeats": len(loads),
        "runs": [{"cold": asdict(c), "warm": asdict(w)} for c, w in loads],
        "cpu_count": os.cpu_count(),
    }
