"""The web viewer in a real browser, as a clinician and a researcher use it (issue 14, item 4).

Each step's screenshot is kept in the artifacts folder (see conftest). Pixel checks read
screenshots of the NiiVue canvas (``pixels``); the numbers they compare against come from the
REST API, not from the page.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.api.conftest import PASSWORD
from tests.conftest import SHIPPED_BRATS_CASE, crop_case
from tests.web import pixels
from tests.web.conftest import COMPARED_PLANS, FORECAST_DAYS, Web, open_patient

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

CANVAS = "#viewer-canvas"


@pytest.fixture(scope="module")
def clinician(open_page: Callable[..., Page], web: Web, artifacts: Path) -> Iterator[Page]:
    """A clinician of team A on the real patient's page (the viewer ready)."""
    page = open_page("clin-a")
    page.screenshot(path=str(artifacts / "01-patient-list.png"), full_page=True)
    t0 = time.perf_counter()
    open_patient(page, web.pid)
    (artifacts / "timings.txt").write_text(
        f"seeding {web.seed_s}\npatient page ready {time.perf_counter() - t0:.2f} s\n"
    )
    page.screenshot(path=str(artifacts / "02-patient-page.png"), full_page=True)
    yield page


def test_wrong_password_is_refused_on_the_page(browser: Browser, web: Web, artifacts: Path) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{web.url}/#/login")
        page.fill("#login-name", "clin-a")
        page.fill("#login-password", PASSWORD + "x")
        page.click("#login-submit")
        banner = page.locator("#error-banner")
        banner.wait_for(state="visible", timeout=15_000)
        page.screenshot(path=str(artifacts / "00-login-refused.png"))
        assert banner.inner_text().strip()
        assert not page.is_visible("#patient-list")
    finally:
        page.close()


def test_patient_list_and_the_volume_on_the_canvas(
    clinician: Page, web: Web, artifacts: Path
) -> None:
    # the list showed both patients of team A that the API lists, and no patient of team B
    listed = {p["id"] for p in web.api("clin-a", "GET", "/patients")}
    assert web.pid in listed and web.svc.patients["team-b"] not in listed
    rgb = pixels.grab(clinician.locator(CANVAS), artifacts / "03-canvas.png")
    h, w, _ = rgb.shape
    assert h > 200 and w > 200, f"the canvas is only {w}x{h} px"
    fg = pixels.foreground(rgb)
    # the slices of the volume fill a good part of the canvas with many grey levels (text,
    # markers and crosshair alone are a few percent and a handful of levels)
    assert fg.mean() > 0.05, f"only {fg.mean():.1%} of the canvas differs from the background"
    assert pixels.grey_levels(rgb) > 64
    # a clinician may open the identified view (the researcher test checks its absence)
    assert clinician.locator("#identify-button").count() == 1
    assert clinician.locator("#readout").inner_text().strip()


def test_segmentation_toggle_changes_the_pixels(clinician: Page, artifacts: Path) -> None:
    canvas = clinician.locator(CANVAS)
    toggle = clinician.locator("#toggle-seg")
    assert toggle.is_checked(), "the overlay is on when the page opens"
    on = pixels.grab(canvas, artifacts / "04-overlay-on.png")
    toggle.uncheck()
    off = pixels.wait_for_change(canvas, on, min_pixels=50)
    pixels.grab(canvas, artifacts / "05-overlay-off.png")
    n = pixels.changed(on, off)
    assert n >= 50, f"hiding the segmentation changed only {n} pixels"
    # what disappeared was colour (the label map), not the grey volume
    assert pixels.coloured(off).sum() < pixels.coloured(on).sum()
    toggle.check()
    back = pixels.wait_for_change(canvas, off, min_pixels=50)
    assert pixels.changed(on, back) < n / 10, "showing it again does not give the same picture"


def test_forecast_time_slider_changes_the_overlay(
    clinician: Page, web: Web, artifacts: Path
) -> None:
    forecasts = web.api("clin-a", "GET", f"/patients/{web.pid}/forecasts")
    assert len(forecasts) >= 2
    # what the maps hold (API): voxels at >= 10/50/90 % per horizon; a year of untreated growth
    # (no plan is stored) reaches further than 30 days, which the pixels below rely on
    counts: dict[int, dict[str, list[int]]] = {}
    for f in forecasts:
        days = (
            dt.date.fromisoformat(f["target_date"]) - dt.date.fromisoformat(f["from_visit"])
        ).days
        for name in (v for v in f["volumes"] if v.startswith("probability_")):
            prob = web.volume("clin-a", f"/patients/{web.pid}/forecasts/{f['id']}/volumes/{name}")
            counts.setdefault(days, {})[name] = [int((prob >= q).sum()) for q in (0.1, 0.5, 0.9)]
    (artifacts / "forecast-maps.txt").write_text(f"voxels >= 10/50/90 %: {counts}\n")
    lo_d, hi_d = min(counts), max(counts)
    for name in counts[lo_d]:
        assert counts[hi_d][name][1] > counts[lo_d][name][1], counts
    slider = clinician.locator("#forecast-days")
    lo, hi = int(slider.get_attribute("min") or 0), int(slider.get_attribute("max") or 0)
    near_d, far_d = min(FORECAST_DAYS), max(FORECAST_DAYS)
    assert lo <= near_d and hi == far_d, f"the slider spans {lo}..{hi} days"
    canvas = clinician.locator(CANVAS)
    shown = {}
    # move the slider (a change is what shows a horizon: start with the one not selected)
    order = (near_d, far_d) if slider.input_value() == str(far_d) else (far_d, near_d)
    last = pixels.grab(canvas)
    for i, days in enumerate(order):
        slider.fill(str(days))
        # the first stop may look as before (the 30-day map of T1ce-visible tumour can be
        # empty at 50 %: see forecast-maps.txt); the second must differ from the first
        wait_s = 30.0 if i else 8.0
        last = shown[days] = pixels.wait_for_change(canvas, last, min_pixels=20, timeout_s=wait_s)
        pixels.grab(canvas, artifacts / f"06-forecast-{days}d.png")
        clinician.screenshot(path=str(artifacts / f"06-forecast-{days}d-page.png"), full_page=True)
        assert f"{days} d" in clinician.locator("#forecast-days-out").inner_text()
        plan = clinician.locator("#forecast-plan").inner_text().strip()
        assert plan and plan not in ("—", "-"), "the plan the forecast assumed is not named"
    near, far = shown[near_d], shown[far_d]
    n = pixels.changed(near, far)
    assert n >= 20, f"moving the slider {far_d} <-> {near_d} days changed only {n} pixels"
    # both forecasts assume no treatment (none stored): a year of untreated growth covers more
    # of the slices than 30 days do
    assert pixels.coloured(far).sum() > pixels.coloured(near).sum()
    # a stricter credibility level shows less at the same horizon
    level = clinician.locator("#forecast-level")
    options = level.locator("option").evaluate_all("os => os.map(o => o.value)")
    level.select_option(max(options, key=float))
    strict = pixels.wait_for_change(canvas, last, min_pixels=1, timeout_s=5)
    pixels.grab(canvas, artifacts / f"07-forecast-{order[-1]}d-strict.png")
    assert pixels.coloured(strict).sum() <= pixels.coloured(last).sum()
    level.select_option(options[len(options) // 2])


def test_volume_chart_has_one_point_per_measured_visit(
    clinician: Page, web: Web, artifacts: Path
) -> None:
    visits = web.api("clin-a", "GET", f"/patients/{web.pid}/visits")
    measured = []
    for v in visits:
        m = web.api("clin-a", "GET", f"/patients/{web.pid}/visits/{v['date']}/measurements")
        if (m.get("TC") or {}).get("volume_ml") is not None:
            measured.append(str(v["date"]))
    assert len(measured) == 2  # both scans of the pair carry an expert mask
    chart = clinician.locator("#chart-volumes")
    chart.scroll_into_view_if_needed()
    chart.screenshot(path=str(artifacts / "08-chart-volumes.png"))
    points = chart.locator('.visit-point[data-region="TC"]')
    assert points.count() == len(measured)
    dates = sorted(points.nth(i).get_attribute("data-date") or "" for i in range(points.count()))
    assert dates == sorted(measured)
    # RANO per follow-up visit; the posterior and the plan comparison stored by the seeding jobs
    rano = clinician.locator("#chart-rano")
    rano.screenshot(path=str(artifacts / "09-chart-rano.png"))
    assert sorted(measured)[-1] in rano.inner_text()
    for name in ("posterior", "plans"):
        el = clinician.locator(f"#chart-{name}")
        el.scroll_into_view_if_needed()
        el.screenshot(path=str(artifacts / f"09-chart-{name}.png"))
        assert el.locator("svg").count() >= 1, f"#chart-{name} draws nothing"
    assert "D_w" in clinician.locator("#chart-posterior").inner_text()
    text = clinician.locator("#chart-plans").inner_text()
    assert all(p in text for p in COMPARED_PLANS), text


def test_upload_a_case_and_follow_its_job(
    open_page: Callable[..., Page], web: Web, artifacts: Path, tmp_path: Path
) -> None:
    # a real BraTS case (the demo case, cropped around its tumour to keep the ingest short),
    # four modalities and its expert label, named as a user's files are
    case = crop_case(SHIPPED_BRATS_CASE, tmp_path / "case", 40)
    files = sorted(str(p) for p in case.glob("*.nii.gz"))
    assert len(files) == 5
    page = open_page("clin-a")
    open_patient(page, web.upload_pid)
    page.set_input_files("#upload-input", files)
    page.fill("#upload-date", "2020-03-02")
    if page.locator("#upload-segment").count():
        page.select_option("#upload-segment", "none")  # the expert label is uploaded
    page.screenshot(path=str(artifacts / "10-upload-chosen.png"), full_page=True)
    page.click("#upload-submit")
    job = page.locator("#job-progress")
    states: list[str] = []
    end = time.monotonic() + 600
    while time.monotonic() < end:
        state = job.get_attribute("data-state") or ""
        if not states or states[-1] != state:
            states.append(state)
            if state in ("queued", "running"):
                page.screenshot(path=str(artifacts / f"11-upload-{state}.png"), full_page=True)
        if state in ("done", "failed"):
            break
        time.sleep(0.3)
    page.screenshot(path=str(artifacts / "12-upload-finished.png"), full_page=True)
    assert states[-1] == "done", f"job states seen: {states}; {page.inner_text('#job-progress')}"
    assert {"queued", "running"} & set(states), f"no progress was shown: {states}"
    # the visit appears: in the API and on the page (its date, shifted, in the visit list)
    visits = web.api("clin-a", "GET", f"/patients/{web.upload_pid}/visits")
    assert len(visits) == 1 and len(visits[0]["modalities"]) == 4
    page.wait_for_function(
        "n => document.querySelectorAll('#visit-select option').length === n", arg=1
    )
    assert page.locator("#visit-select option").first.get_attribute("value") == visits[0]["date"]
    page.wait_for_selector(
        'body[data-ready="true"], #viewer[data-ready="true"]', state="attached", timeout=60_000
    )
    rgb = pixels.grab(page.locator(CANVAS), artifacts / "13-uploaded-visit.png")
    assert pixels.foreground(rgb).mean() > 0.02


def test_researcher_cannot_open_the_identified_view(
    open_page: Callable[..., Page], web: Web, artifacts: Path
) -> None:
    page = open_page("res-a")
    assert page.locator(f'#patient-list tr[data-patient="{web.pid}"]').count() == 1
    open_patient(page, web.pid)
    page.screenshot(path=str(artifacts / "14-researcher-patient.png"), full_page=True)
    assert page.locator("#identify-button").count() == 0
    page.goto(f"{web.url}/#/identify/{web.pid}")
    banner = page.locator("#error-banner")
    banner.wait_for(state="visible", timeout=15_000)
    page.screenshot(path=str(artifacts / "15-researcher-identify.png"), full_page=True)
    assert "not permitted" in banner.inner_text()
    assert not page.is_visible("#identify-input")
    # and the API refuses the link itself, whatever the page shows
    with web.svc.client("res-a") as c:
        r = c.post("/patients/lookup", json={"identifier": "WEB-PROGRESSION-10"})
    assert r.status_code == 403
    assert "WEB-PROGRESSION-10" not in r.text


def test_identified_view_for_a_clinician_checks_the_identifier(
    open_page: Callable[..., Page], web: Web, artifacts: Path
) -> None:
    clinician = open_page("clin-a")
    clinician.goto(f"{web.url}/#/identify/{web.pid}")
    clinician.fill("#identify-input", "WEB-PROGRESSION-10")
    clinician.click("#identify-check")
    result = clinician.locator("#identify-result")
    result.wait_for(state="visible")
    clinician.wait_for_function("() => document.querySelector('#identify-result').textContent")
    clinician.screenshot(path=str(artifacts / "16-clinician-identify.png"), full_page=True)
    assert web.pid in result.inner_text()
    assert clinician.input_value("#identify-input") == ""  # not kept on the page
