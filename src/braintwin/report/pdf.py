"""The PDF report: the same document as the HTML, laid out on A4 pages with matplotlib.

No browser and no dependency beyond matplotlib (``PdfPages``): text is wrapped and placed
line by line, tables split across pages with their header repeated, figures are the very PNGs
of the HTML report. Every page carries the pseudonym, "page i of n" and the research-use line;
the first opens with the plain-language summary and the full disclaimer.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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


def _rule(fig: Any, top: float, _: Any) -> None:
    from matplotlib.lines import Line2D

    y = _fy(top)
    fig.lines.append(
        Line2D(
            [_fx(_LEFT), _fx(_LEFT + _WIDTH)], [y, y], transform=fig.transFigure, color="0.75", lw=1
        )
    )


def _image(fig: Any, top: float, data: dict[str, Any]) -> None:
    w, h = data["w"], data["h"]
    x = _LEFT + (_WIDTH - w) / 2
    ax = fig.add_axes((_fx(x), _fy(top + h), w / PAGE_IN[0], h / PAGE_IN[1]))
    ax.imshow(data["pixels"], interpolation="antialiased")
    ax.set_axis_off()


def _table_rows(fig: Any, top: float, data: dict[str, Any]) -> None:
    from matplotlib.patches import Rectangle

    fs, widths, y = data["size"], data["widths"], top
    for cells, height, header in data["rows"]:
        if header:
            fig.patches.append(
                Rectangle(
                    (_fx(_LEFT), _fy(y + height)),
                    _fx(sum(widths)),
                    height / PAGE_IN[1],
                    transform=fig.transFigure,
                    facecolor="0.92",
                    edgecolor="none",
                )
            )
        x = _LEFT
        for col, (lines, w) in enumerate(zip(cells, widths, strict=True)):
            for k, line in enumerate(lines):
                fig.text(
                    _fx(x + 0.04 if col == 0 else x + w - 0.04),
                    _fy(y + 0.03 + k * _line_in(fs)),
                    line,
                    fontsize=fs,
                    va="top",
                    ha="left" if col == 0 else "right",
                    fontweight="bold" if header else "normal",
                )
            x += w
        y += height
        _rule(fig, y, None)


_DRAW = {"text": _text_lines, "rule": _rule, "image": _image, "table": _table_rows}


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
    ncol = len(t.header)
    natural = [max([len(t.header[c])] + [len(r[c]) for r in t.rows]) + 2 for c in range(ncol)]
    budget = _chars(size)
    if sum(natural) > budget:  # shrink wide columns first; every column keeps 8 characters
        cap = max(8, budget // ncol)
        while sum(natural) > budget and max(natural) > cap:
            i = int(np.argmax(natural))
            natural[i] -= 1
    total = sum(natural)
    widths = [_WIDTH * n / max(total, budget) for n in natural]
    if total < budget:
        widths = [w * budget / total * min(1.0, total / budget * 1.6) for w in widths]
    chars = [max(4, int(w * 72 / (_CHAR * size)) - 1) for w in widths]

    def row(cells: tuple[str, ...], header: bool) -> tuple[list[list[str]], float, bool]:
        wrapped = [textwrap.wrap(c, n) or [""] for c, n in zip(cells, chars, strict=True)]
        return wrapped, max(len(w) for w in wrapped) * _line_in(size) + 0.06, header

    head = row(t.header, True)
    return [
        _Item(head[1] + r[1], "table", {"size": size, "widths": widths, "rows": [head, r]})
        for r in (row(cells, False) for cells in t.rows)
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
        items.append(_text_item(s.title, size, bold=True, keep=True))
        for b in s.blocks:
            items += _block_items(b)
    return items


def layout_pages(doc: ReportDocument) -> list[list[tuple[float, _Item]]]:
    """Items placed on pages: (distance from the top of the page in inches, item)."""
    pages: list[list[tuple[float, _Item]]] = [[]]
    y = _TOP
    items = _items(doc)
    for k, item in enumerate(items):
        need = item.height
        j = k
        while items[j].keep_with_next and j + 1 < len(items):  # a heading never ends a page
            j += 1
            need += items[j].height if items[j].kind != "image" else min(items[j].height, 2.0)
        if y + need > _TOP + _BODY and pages[-1]:
            pages.append([])
            y = _TOP
        pages[-1].append((y, item))
        y += item.height
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
