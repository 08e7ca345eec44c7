"""The PDF report: the same document as the HTML, laid out on A4 pages with matplotlib.

No browser and no dependency beyond matplotlib (``PdfPages``): text is wrapped and placed
line by line, tables split across pages with their header repeated, figures are the very PNGs
of the HTML report. Every page carries the pseudonym, "page i of n" and the research-use line;
the first opens with the plain-language summary and the full disclaimer.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from braintwin.atomic import atomic_write
from braintwin.report.document import ReportDocument
from braintwin.report.pdf_items import (
    BODY,
    BOTTOM,
    LEFT,
    PAGE_IN,
    TOP,
    WIDTH,
    Item,
    block_items,
    fx,
    fy,
    text_item,
)

__all__ = ["PAGE_IN", "layout_pages", "render_pdf", "write_pdf"]


def _items(doc: ReportDocument) -> list[Item]:
    items = [
        text_item(f"braintwin · patient {doc.pseudonym}", 16, bold=True),
        text_item(f"Generated {doc.generated}.", 8, colour="0.35"),
        text_item(doc.disclaimer, 8.5, box="#fff3cd", edge="#e0a800"),
        Item(0.1, "rule", None),
        text_item("Summary", 13, bold=True, keep=True),
        text_item(doc.summary, 10, box="#eef3fb", edge="#1a73e8"),  # one box, a third of a page
    ]
    for s in doc.sections:
        size = 13 if s.level == 1 else 10.5
        if s.level == 1:
            items.append(Item(0.12, "rule", None, keep_with_next=True))
        else:
            items.append(Item(0.1, "space", None, keep_with_next=True))
        items.append(text_item(s.title, size, bold=True, keep=True))
        for b in s.blocks:
            items += block_items(b)
    return items


def _min_height(item: Item, before: Item | None = None) -> float:
    """The least room an item can take after ``before`` on one page: figures may shrink to
    75 % to fit; a table row needs the header too unless it follows a row of its table."""
    if item.kind == "image":
        return 0.75 * item.height
    if item.kind == "table":
        same = (
            before is not None and before.kind == "table" and before.data["id"] == item.data["id"]
        )
        return item.height + (0.0 if same else item.data["head"][1])
    return item.height


def layout_pages(doc: ReportDocument) -> list[list[tuple[float, Item]]]:
    """Items placed on pages: (distance from the top of the page in inches, item).

    A heading or a figure never ends a page without what follows it (``keep_with_next``), a
    table's first row on each page carries the header, a figure shrinks (to 75 % at least)
    rather than leave a large gap.
    """
    pages: list[list[tuple[float, Item]]] = [[]]
    y, limit = TOP, TOP + BODY
    items = _items(doc)
    previous: Item | None = None
    for k, item in enumerate(items):
        need, j = _min_height(item, previous), k
        while items[j].keep_with_next and j + 1 < len(items):
            j += 1
            need += _min_height(items[j], items[j - 1])
        if y + need > limit and pages[-1]:
            pages.append([])
            y, previous = TOP, None
        if item.kind == "table":
            first = (
                previous is None
                or previous.kind != "table"
                or previous.data["id"] != item.data["id"]
            )
            item = Item(
                item.height + (item.data["head"][1] if first else 0.0),
                "table",
                {**item.data, "show_header": first},
                item.keep_with_next,
            )
        tail = need - _min_height(item, previous)  # what must follow on this page
        if item.kind == "image" and y + item.height + tail > limit:
            room = limit - y - tail
            scale = (room - 0.08) / (item.height - 0.08)
            d = item.data
            item = Item(
                room,
                "image",
                {**d, "w": d["w"] * scale, "h": d["h"] * scale},
                item.keep_with_next,
            )
        pages[-1].append((y, item))
        y += item.height
        previous = item
    return pages


def _footer(fig: Any, doc: ReportDocument, page: int, n: int) -> None:
    y = fy(PAGE_IN[1] - BOTTOM + 0.35)
    fig.text(
        fx(LEFT),
        y,
        f"braintwin · patient {doc.pseudonym} · dates shifted · research use only, "
        "not for clinical decisions",
        fontsize=7,
        color="0.4",
        va="top",
    )
    fig.text(
        fx(LEFT + WIDTH), y, f"page {page} of {n}", fontsize=7, color="0.4", va="top", ha="right"
    )


def render_pdf(doc: ReportDocument) -> bytes:
    """The report as PDF bytes (A4, page numbers, pseudonym only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    pages = layout_pages(doc)
    buf = io.BytesIO()
    meta = {
        "Title": f"braintwin report {doc.pseudonym}",
        "Creator": "braintwin",
        "CreationDate": None,
    }
    with PdfPages(buf, metadata=meta) as pdf:
        for n, placed in enumerate(pages, start=1):
            fig = plt.figure(figsize=PAGE_IN)
            for top, item in placed:
                item.draw(fig, top)
            _footer(fig, doc, n, len(pages))
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()


def write_pdf(doc: ReportDocument, out: Path) -> Path:
    """Write the PDF report to ``out`` (atomically) and return the path."""
    out = Path(out)
    atomic_write(out, render_pdf(doc))
    return out
