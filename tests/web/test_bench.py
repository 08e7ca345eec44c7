"""``braintwin bench viewer``: its measurement on the session's server, and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.api.conftest import PASSWORD
from tests.cli import run
from tests.web.conftest import Web

from braintwin.web.bench import time_patient_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.mark.slow
def test_cold_then_warm_load_revalidates_instead_of_downloading(
    browser: Browser, web: Web, artifacts: Path
) -> None:
    cold, warm = time_patient_page(
        browser, web.url, "clin-a", PASSWORD, web.pid, screenshot=artifacts / "20-bench.png"
    )
    (artifacts / "bench.txt").write_text(f"cold {cold}\nwarm {warm}\n")
    assert cold.seconds > 0 and warm.seconds > 0
    assert cold.bytes > 10_000  # the volumes came over the wire
    # the reload asks again and gets 304s (ETag): almost nothing is transferred
    assert warm.not_modified >= 2, warm
    assert warm.bytes < cold.bytes / 2, (cold, warm)


def test_missing_browser_is_one_line_with_a_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BRAINTWIN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    code, out, err = run(["bench", "viewer", "--url", "http://127.0.0.1:9"], capsys)
    assert code == 2 and out == ""
    assert "no Chromium browser found" in err and "apt-get install chromium" in err
    assert len(err.strip().splitlines()) == 1


def test_url_without_an_account_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("playwright")
    from braintwin.web.bench import find_chromium

    if find_chromium() is None:
        pytest.skip("chromium not available")
    code, out, err = run(["bench", "viewer", "--url", "http://127.0.0.1:9"], capsys)
    assert code == 2 and out == "" and "--user and --password" in err
    assert len(err.strip().splitlines()) == 1
