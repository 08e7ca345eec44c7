"""The report of a real two-visit twin (the shipped progression pair), HTML and PDF.

Pair 10 of tests/data/progression (TCIA Brain-Tumor-Progression, cropped; headers claim 1 mm,
the true voxel is about 1 x 1 x 5 mm) ingested under an identifier as two visits with their
expert masks: the report must open with the summary, show the course over time, the RANO
table and a registration check of the follow-up, carry the pseudonym and shifted dates only,
and the CLI must write the PDF on request.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.cli import run

from braintwin.store import Store
from braintwin.twin import IngestOptions, Twin
from braintwin.types import Modality

pytestmark = pytest.mark.slow  # two ingests (~20 s alone) and three PDFs

IDENTIFIER = "MRN-REPORT-4711"
REAL_DATES = ("2001-07-04", "2001-10-02")


@pytest.fixture(scope="module")
def pair_home(
    tmp_path_factory: pytest.TempPathFactory, shipped_progression: Path
) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("report-home")
    pair = shipped_progression / "10"
    with Store.open(url=f"sqlite:///{home / 'braintwin.db'}", home=home) as store:
        twin = Twin.open(IDENTIFIER, store=store, create=True)
        for scan, mask, day in (
            ("Pre_Scan_T1", "Pre_Mask", dt.date.fromisoformat(REAL_DATES[0])),
            ("Post_Scan_T1", "Post_Mask", dt.date.fromisoformat(REAL_DATES[1])),
        ):
            opts = IngestOptions(
                modality=Modality.T1CE,
                spacing_override=(1.0, 1.0, 5.0),
                segmentation=pair / f"{mask}.nii.gz",
                classify=False,
                update_model=False,
                n4=False,
            )
            twin.add_visit(pair / f"{scan}.nii.gz", day, options=opts)
        yield home, twin.id


@pytest.fixture
def twin_home(pair_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    monkeypatch.setenv("BRAINTWIN_HOME", str(pair_home[0]))
    monkeypatch.delenv("BRAINTWIN_DB_URL", raising=False)
    return pair_home


def _no_raw_numbers(text: str) -> None:
    assert not re.search(r"\d\.\d{6,}", text), "unrounded float in the report"
    assert "{'" not in text and "{&#x27;" not in text and "[{" not in text, "raw record"


def test_html_report_of_a_two_visit_twin(
    twin_home: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, pid = twin_home
    out = tmp_path / "r.html"
    code, _, err = run(["report", pid, "-o", str(out)], capsys)
    assert code == 0, err
    html = out.read_text()
    text = re.sub(r'src="data:image/png;base64,[^"]*"', "", html)
    # summary first, then the course, then the visits
    order = [text.index(s) for s in ("Summary", "Course over time", "(baseline)")]
    assert order == sorted(order)
    summary = text[text.index('class="summary"') :].split("</p>")[0]
    assert "2 MRI visits over 90 days" in summary and "shrank by" in summary
    assert "research software" in summary
    assert "SPD vs nadir" in text and "SD (stable disease)" in text  # -27 % SPD: stable
    assert "Registration check against the first visit" in text
    assert "Rigid registration moved this visit by" in text
    assert text.count("data:image/png") == 0 and html.count("data:image/png;base64,") >= 4
    assert pid in html and IDENTIFIER not in html
    assert not any(d in html for d in REAL_DATES)
    _no_raw_numbers(text)


def test_pdf_report_by_cli_flag_or_suffix(
    twin_home: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    read_pdf_text: Callable[[bytes], str],
    read_pdf_streams: Callable[[bytes], bytes],
) -> None:
    home, pid = twin_home
    code, stdout, err = run(["report", pid, "--pdf", "-o", str(tmp_path / "a.pdf")], capsys)
    assert code == 0, err
    assert "report written" in stdout
    code, _, err = run(["report", pid, "-o", str(tmp_path / "b.pdf")], capsys)
    assert code == 0, err
    code, _, err = run(["report", pid, "--pdf"], capsys)  # default: $BRAINTWIN_HOME/reports
    assert code == 0, err
    default = home / "reports" / f"{pid}.pdf"
    for path in (tmp_path / "a.pdf", tmp_path / "b.pdf", default):
        assert path.read_bytes().startswith(b"%PDF-")
    data = (tmp_path / "a.pdf").read_bytes()
    text = read_pdf_text(data)
    n = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert n >= 3 and f"page {n} of {n}" in text
    for needle in ("Summary", "Course over time", "SPD vs", "Registration check", pid):
        assert needle in text, needle
    inflated = read_pdf_streams(data)
    for blob in (data, inflated, text.encode("latin-1", "replace")):
        assert IDENTIFIER.encode() not in blob
        assert not any(d.encode() in blob for d in REAL_DATES)
    _no_raw_numbers(text)
    # a PDF asked for under another suffix is refused in one line, exit 2
    code, _, err = run(["report", pid, "--pdf", "-o", str(tmp_path / "c.html")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and ".pdf" in err
    assert not (tmp_path / "c.html").exists()
