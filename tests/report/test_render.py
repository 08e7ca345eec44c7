"""One document, two renderings: the HTML page and the A4 PDF (pages, numbers, layout)."""

from __future__ import annotations

import re
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from braintwin.report.document import (
    Figure,
    Flag,
    Paragraph,
    ReportDocument,
    Section,
    Subheading,
    Table,
)
from braintwin.report.figures import to_png
from braintwin.report.html import render_html
from braintwin.report.pdf import PAGE_IN, layout_pages, render_pdf


def _png(w_in: float = 6.0, h_in: float = 3.0) -> bytes:
    fig, ax = plt.subplots(figsize=(w_in, h_in))
    ax.plot([0, 1], [0, 1])
    return to_png(fig, "white")


def _doc(n_rows: int = 5, n_figures: int = 1) -> ReportDocument:
    table = Table.of(
        ["visit", "SPD (mm²)", "response"],
        [[f"2020-01-{k % 28 + 1:02d}", str(k), "SD"] for k in range(n_rows)],
    )
    return ReportDocument(
        pseudonym="BT-TESTPSEUDO",
        generated="2026-01-01 00:00 UTC by braintwin test",
        summary="Two visits. The tumour core grew by 25 %. " * 3,
        sections=[
            Section(
                "Course over time",
                [Paragraph("Volumes <b>per</b> region & more.", lead="Plan assumed:"), table],
            ),
            Section(
                "Visit 2020-01-01",
                [Flag("SYNTHETIC visit"), Subheading("Slices")]
                + [Figure(_png(), f"figure {k}", f"Caption {k}.") for k in range(n_figures)],
                level=1,
            ),
        ],
    )


def test_html_escapes_text_and_embeds_figures() -> None:
    html = render_html(_doc())
    assert "Volumes &lt;b&gt;per&lt;/b&gt; region &amp; more." in html  # text, never markup
    assert "<b>Plan assumed:</b>" in html
    assert html.count("data:image/png;base64,") == 1
    assert html.index("Summary") < html.index("Course over time") < html.index("Visit 2020-01-01")
    assert "Research software" in html and "BT-TESTPSEUDO" in html


def test_pdf_pages_numbers_and_text(read_pdf_text: Callable[[bytes], str]) -> None:
    pdf = render_pdf(_doc(n_figures=4))
    assert pdf.startswith(b"%PDF-")
    pages = layout_pages(_doc(n_figures=4))
    n = len(pages)
    assert n >= 2
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == n
    text = read_pdf_text(pdf)
    for k in range(1, n + 1):
        assert f"page {k} of {n}" in text
    assert text.count("BT-TESTPSEUDO") == n + 1  # title and every footer
    assert "Research software: not a medical device" in text
    assert "research use only" in text  # on every page's footer
    assert text.count("research use only") == n
    assert "Summary" in text and "Course over time" in text


def test_pdf_is_a4_and_deterministic() -> None:
    a, b = render_pdf(_doc()), render_pdf(_doc())
    assert a == b  # no creation date, same layout
    boxes = re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", a)
    assert boxes and all(abs(float(w) - 595) < 1 and abs(float(h) - 842) < 1 for w, h in boxes)


def test_long_tables_split_with_their_header_on_every_page() -> None:
    pages = layout_pages(_doc(n_rows=150, n_figures=0))
    assert len(pages) >= 3
    for placed in pages:
        rows = [item for _, item in placed if item.kind == "table"]
        if rows:
            assert rows[0].data["show_header"] is True
            assert not any(r.data["show_header"] for r in rows[1:])
        bottom = max(top + item.height for top, item in placed)
        assert bottom <= PAGE_IN[1] - 0.85 + 1e-6  # never into the footer


def test_headings_never_end_a_page_and_figures_fit() -> None:
    pages = layout_pages(_doc(n_rows=40, n_figures=6))
    assert len(pages) >= 3
    for placed in pages[:-1]:
        assert not placed[-1][1].keep_with_next  # a heading or a figure without its caption
    for placed in pages:
        for top, item in placed:
            if item.kind == "image":
                assert item.data["w"] <= PAGE_IN[0] - 1.4 + 1e-6
                assert top + item.height <= PAGE_IN[1] - 0.85 + 1e-6
    # a figure is shown at its own size or shrunk, never stretched
    sizes = [item.data["w"] for p in pages for _, item in p if item.kind == "image"]
    assert len(sizes) == 6 and all(2.0 < s <= 6.0 for s in sizes)


def test_a_short_table_stays_on_one_page_with_its_heading() -> None:
    table = Table.of(["visit", "SPD (mm²)"], [[f"2020-01-0{k + 1}", str(k)] for k in range(6)])
    for n_words in range(300, 900, 25):  # the table lands at every height of the page
        filler = Paragraph("word " * n_words)
        doc = ReportDocument(
            pseudonym="BT-X",
            generated="now",
            summary="Short.",
            sections=[Section("Text", [filler]), Section("RANO", [table], level=2)],
        )
        pages = layout_pages(doc)
        (page,) = [p for p in pages if any(item.kind == "table" for _, item in p)]
        rows = [item for _, item in page if item.kind == "table"]
        assert len(rows) == 6 and rows[0].data["show_header"]
        texts = [item.data["lines"][0][0] for _, item in page if item.kind == "text"]
        assert "RANO" in texts  # the heading moved with its table


def test_long_paragraphs_flow_across_pages_and_stay_above_the_footer() -> None:
    doc = ReportDocument("BT-X", "now", "Short.", [Section("Text", [Paragraph("word " * 8000)])])
    pages = layout_pages(doc)
    assert len(pages) >= 3
    for placed in pages:
        assert max(top + item.height for top, item in placed) <= PAGE_IN[1] - 0.85 + 1e-6
