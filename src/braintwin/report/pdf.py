"""The PDF report: the same document as the HTML, laid out on A4 pages with matplotlib.

No browser and no dependency beyond matplotlib (``PdfPages``): text is wrapped and placed
line by line, tables split across pages with their header repeated, figures are the very PNGs
of the HTML report. Every page carries the pseudonym, "page i of n" and the research-use line;
the first opens with the plain-language summary and the full disclaimer.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from braintwin.atomic import atomic_write
from braintwin.report.document import (
    Block,
    Figure,
    Flag,
    Paragraph,
    ReportDocument,
    Subheading,
    Table,
)

__all__ = ["PAGE_IN", "layout_pages", "render_pdf", "write_pdf"]

PAGE_IN = (8.27, 11.69)  # A4 portrait, inches
_LEFT, _RIGHT, _TOP, _BOTTOM = 0.7, 0.7, 0.7, 0.85
_WIDTH = PAGE_IN[0] - _LEFT - _RIGHT
_BODY = PAGE_IN[1] - _TOP - _BOTTOM
_CHAR = 0.56  # mean glyph width of DejaVu Sans in em, to wrap text without measuring it
_TABLE_CHAR = 0.62  # tables: digits and bold headers are wider than running text


def _chars(fontsize: float, width_in: float = _WIDTH) -> int:
    return max(8, int(width_in * 72 / (_CHAR * fontsize)))


def _line_in(fontsize: float) -> float:
    return 1.4 * fontsize / 72


@dataclass
class _Item:
    """Something placed on a page: its height (inches) and how to draw it at ``top``."""

    height: float
    kind: str
    data: Any
    keep_with_next: bool = False

    def draw(self, fig: Any, top: float) -> None:
        _DRAW[self.kind](fig, top, self.data)


def _fx(x: float) -> float:
    return x / PAGE_IN[0]


def _fy(y_from_top: float) -> float:
    return 1 - y_from_top / PAGE_IN[1]


def _text_lines(fig: Any, top: float, data: dict[str, Any]) -> None:
    fs = data["size"]
    if data.get("box"):
        from matplotlib.patches import Rectangle

        h = len(data["lines"]) * _line_in(fs) + 0.1
        fig.patches.append(
            Rectangle(
                (_fx(_LEFT - 0.08), _fy(top + h - 0.02)),
                _fx(_WIDTH + 0.16),
                h / PAGE_IN[1],
                transform=fig.transFigure,
                facecolor=data["box"],
                edgecolor=data.get("edge", "none"),
                lw=0.8,
            )
        )
        top += 0.05
    for k, (line, bold) in enumerate(data["lines"]):
        fig.text(
            _fx(_LEFT + data.get("indent", 0.0)),
            _fy(top + k * _line_in(fs)),
            line,
            fontsize=fs,
            va="top",
            fontweight="bold" if bold else "normal",
            color=data.get("colour", "black"),
        )


def _rule(fig: Any, top: float, _: Any, width: float = _WIDTH) -> None:
    from matplotlib.lines import Line2D

    y = _fy(top)
    fig.lines.append(
        Line2D(
            [_fx(_LEFT), _fx(_LEFT + width)], [y, y], transform=fig.transFigure, color="0.75", lw=1
        )
    )


def _image(fig: Any, top: float, data: dict[str, Any]) -> None:
    w, h = data["w"], data["h"]
    x = _LEFT + (_WIDTH - w) / 2
    ax = fig.add_axes((_fx(x), _fy(top + h), w / PAGE_IN[0], h / PAGE_IN[1]))
    ax.imshow(data["pixels"], interpolation="none")  # vector backends embed the PNG as is
    ax.set_axis_off()


def _table_rows(fig: Any, top: float, data: dict[str, Any]) -> None:
    from matplotlib.patches import Rectangle

    fs, widths, y = data["size"], data["widths"], top
    rows = [(data["head"], True)] if data.get("show_header") else []
    for (cells, height), header in [*rows, (data["row"], False)]:
        if header:
            fig.patches.append(
                Rectangle(
                    (_fx(_LEFT), _fy(y + height)),
                    sum(widths) / PAGE_IN[0],
                    height / PAGE_IN[1],
                    transform=fig.transFigure,
                    facecolor="0.92",
                    edgecolor="none",
                )
            )
        x = _LEFT
        for col, (lines, w) in enumerate(zip(cells, widths, strict=True)):
            for k, line in enumerate(lines):
                r = data["right"][col]
                fig.text(
                    _fx(x + w - 0.04 if r else x + 0.04),
                    _fy(y + 0.03 + k * _line_in(fs)),
                    line,
                    fontsize=fs,
                    va="top",
                    ha="right" if r else "left",
                    fontweight="bold" if header else "normal",
                )
            x += w
        y += height
        _rule(fig, y, None, sum(widths))


def _nothing(fig: Any, top: float, data: Any) -> None:
    """Vertical space (before a sub-heading)."""


_DRAW: dict[str, Callable[[Any, float, Any], None]] = {
    "text": _text_lines,
    "rule": _rule,
    "space": _nothing,
    "image": _image,
    "table": _table_rows,
}


def _text_item(
    text: str, size: float, *, bold: bool = False, keep: bool = False, **style: Any
) -> _Item:
    lines = [(ln, bold) for ln in textwrap.wrap(text, _chars(size)) or [""]]
    return _text_lines_item(lines, size, keep=keep, **style)


def _text_lines_item(
    lines: list[tuple[str, bool]], size: float, *, keep: bool = False, **style: Any
) -> _Item:
    pad = 0.2 if style.get("box") else 0.08
    return _Item(
        len(lines) * _line_in(size) + pad, "text", {"lines": lines, "size": size, **style}, keep
    )


def _table_items(t: Table, size: float = 7.5) -> list[_Item]:
    """One item per row; the layout gives the first row on each page the header too."""
    ncol = len(t.header)
    # A column is as wide as its longest cell and its header's longest word (headers wrap);
    # when the table is too wide, the widest columns wrap, never below their longest word.
    words = [
        [w for cell in (t.header[c], *(r[c] for r in t.rows)) for w in cell.split()]
        for c in range(ncol)
    ]
    floor = [min(max((len(w) for w in ws), default=1), 16) + 2 for ws in words]
    natural = [
        max(floor[c], min(len(t.header[c]), 12) + 2, *(len(r[c]) + 2 for r in t.rows))
        for c in range(ncol)
    ]
    budget = _chars(size, _WIDTH) * _CHAR // _TABLE_CHAR
    while sum(natural) > budget:
        shrinkable = [c for c in range(ncol) if natural[c] > floor[c]]
        if not shrinkable:
            break
        natural[max(shrinkable, key=lambda c: natural[c])] -= 1
    total = sum(natural)
    stretch = min(budget / total, 1.4) if total < budget else budget / total
    widths = [_WIDTH * n * stretch / budget for n in natural]
    chars = [max(4, int(w * 72 / (_TABLE_CHAR * size)) - 1) for w in widths]

    def row(cells: tuple[str, ...]) -> tuple[list[list[str]], float]:
        wrapped = [textwrap.wrap(c, n) or [""] for c, n in zip(cells, chars, strict=True)]
        return wrapped, max(len(w) for w in wrapped) * _line_in(size) + 0.06

    head = row(t.header)
    right = [k > 0 and t.numeric(k) for k in range(ncol)]
    return [
        _Item(
            r[1],
            "table",
            {"size": size, "widths": widths, "head": head, "row": r, "id": id(t), "right": right},
        )
        for r in (row(cells) for cells in t.rows)
    ]


def _figure_items(f: Figure) -> list[_Item]:
    from matplotlib import image as mpimg

    pixels = mpimg.imread(io.BytesIO(f.png), format="png")
    ph, pw = pixels.shape[:2]
    w = min(_WIDTH * f.width, pw / 100 * 1.0)  # never upscale beyond the figure's 100 dpi
    w = max(w, min(_WIDTH * f.width, 3.0))
    h = w * ph / pw
    max_h = _BODY - 1.2
    if h > max_h:
        w, h = w * max_h / h, max_h
    items = [
        _Item(h + 0.08, "image", {"pixels": pixels, "w": w, "h": h}, keep_with_next=bool(f.caption))
    ]
    if f.caption:
        items.append(_text_item(f.caption, 7.5, colour="0.3"))
    return items


def _block_items(b: Block) -> list[_Item]:
    if isinstance(b, Paragraph):
        items = [_text_item(b.lead, 9, bold=True, keep=True)] if b.lead else []
        return [
            *items,
            _text_item(b.text, 8 if b.muted else 9, colour="0.35" if b.muted else "black"),
        ]
    if isinstance(b, Flag):
        return [_text_item(b.text, 8.5, box="#fff3cd", edge="#e0a800")]
    if isinstance(b, Subheading):
        return [_text_item(b.text, 9.5, bold=True, keep=True)]
    if isinstance(b, Table):
        return _table_items(b)
    if isinstance(b, Figure):
        return _figure_items(b)
    raise TypeError(f"unknown report block {type(b).__name__}")


def _items(doc: ReportDocument) -> list[_Item]:
    items = [
        _text_item(f"braintwin · patient {doc.pseudonym}", 16, bold=True),
        _text_item(f"Generated {doc.generated}.", 8, colour="0.35"),
        _text_item(doc.disclaimer, 8.5, box="#fff3cd", edge="#e0a800"),
        _Item(0.1, "rule", None),
        _text_item("Summary", 13, bold=True, keep=True),
        _text_item(doc.summary, 10, box="#eef3fb", edge="#1a73e8"),
    ]
    for s in doc.sections:
        size = 13 if s.level == 1 else 10.5
        if s.level == 1:
            items.append(_Item(0.12, "rule", None, keep_with_next=True))
        else:
            items.append(_Item(0.1, "space", None, keep_with_next=True))
        items.append(_text_item(s.title, size, bold=True, keep=True))
        for b in s.blocks:
            items += _block_items(b)
    return items


def _min_height(item: _Item) -> float:
    """The least room an item can take: figures may shrink to 75 % to fit a page."""
    if item.kind == "image":
        return 0.75 * item.height
    if item.kind == "table":
        return item.height + item.data["head"][1]
    return item.height


def layout_pages(doc: ReportDocument) -> list[list[tuple[float, _Item]]]:
    """Items placed on pages: (distance from the top of the page in inches, item).

    A heading or a figure never ends a page without what follows it (``keep_with_next``), a
    table's first row on each page carries the header, a figure shrinks (to 75 % at least)
    rather than leave a large gap.
    """
    pages: list[list[tuple[float, _Item]]] = [[]]
    y, limit = _TOP, _TOP + _BODY
    items = _items(doc)
    previous: _Item | None = None
    for k, item in enumerate(items):
        need, j = _min_height(item), k
        while items[j].keep_with_next and j + 1 < len(items):
            j += 1
            need += _min_height(items[j])
        if y + need > limit and pages[-1]:
            pages.append([])
            y, previous = _TOP, None
        if item.kind == "table":
            first = (
                previous is None
                or previous.kind != "table"
                or previous.data["id"] != item.data["id"]
            )
            item = _Item(
                item.height + (item.data["head"][1] if first else 0.0),
                "table",
                {**item.data, "show_header": first},
            )
        if item.kind == "image" and y + item.height > limit:
            scale = (limit - y - 0.08) / (item.height - 0.08)
            d = item.data
            item = _Item(limit - y, "image", {**d, "w": d["w"] * scale, "h": d["h"] * scale})
        pages[-1].append((y, item))
        y += item.height
        previous = item
    return pages


def _footer(fig: Any, doc: ReportDocument, page: int, n: int) -> None:
    y = _fy(PAGE_IN[1] - _BOTTOM + 0.35)
    fig.text(
        _fx(_LEFT),
        y,
        f"braintwin · patient {doc.pseudonym} · dates shifted · research use only, "
        "not for clinical decisions",
        fontsize=7,
        color="0.4",
        va="top",
    )
    fig.text(
        _fx(_LEFT + _WIDTH), y, f"page {page} of {n}", fontsize=7, color="0.4", va="top", ha="right"
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
