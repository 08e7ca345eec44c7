"""The pieces of a PDF page: page geometry, placed items and how each block becomes items.

Text is wrapped by an estimate of the glyph width (no font measuring) and drawn line by line
with ``fig.text``; tables become one item per row (the layout adds the header to the first row
on each page); figures are the report's PNGs, never upscaled. Used by
:mod:`braintwin.report.pdf`, which places the items on pages.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from braintwin.report.document import Block, Figure, Flag, Paragraph, Subheading, Table

__all__ = [
    "BODY",
    "BOTTOM",
    "LEFT",
    "PAGE_IN",
    "TOP",
    "WIDTH",
    "Item",
    "block_items",
    "fx",
    "fy",
    "rule",
    "text_item",
    "text_items",
]

PAGE_IN = (8.27, 11.69)  # A4 portrait, inches
LEFT, RIGHT, TOP, BOTTOM = 0.7, 0.7, 0.7, 0.85
WIDTH = PAGE_IN[0] - LEFT - RIGHT
BODY = PAGE_IN[1] - TOP - BOTTOM
_CHAR = 0.56  # mean glyph width of DejaVu Sans in em, to wrap text without measuring it
CHUNK_LINES = 12  # running text is cut into items of this many lines (page breaks between)
SMALL_TABLE = 8  # rows; a table this short is never split across pages
_TABLE_CHAR = 0.62  # tables: digits and bold headers are wider than running text


def _chars(fontsize: float, width_in: float = WIDTH) -> int:
    return max(8, int(width_in * 72 / (_CHAR * fontsize)))


def line_in(fontsize: float) -> float:
    return 1.4 * fontsize / 72


@dataclass
class Item:
    """Something placed on a page: its height (inches) and how to draw it at ``top``."""

    height: float
    kind: str
    data: Any
    keep_with_next: bool = False

    def draw(self, fig: Any, top: float) -> None:
        _DRAW[self.kind](fig, top, self.data)


def fx(x: float) -> float:
    return x / PAGE_IN[0]


def fy(y_from_top: float) -> float:
    return 1 - y_from_top / PAGE_IN[1]


def _text_lines(fig: Any, top: float, data: dict[str, Any]) -> None:
    fs = data["size"]
    if data.get("box"):
        from matplotlib.patches import Rectangle

        h = len(data["lines"]) * line_in(fs) + 0.1
        fig.patches.append(
            Rectangle(
                (fx(LEFT - 0.08), fy(top + h - 0.02)),
                fx(WIDTH + 0.16),
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
            fx(LEFT + data.get("indent", 0.0)),
            fy(top + k * line_in(fs)),
            line,
            fontsize=fs,
            va="top",
            fontweight="bold" if bold else "normal",
            color=data.get("colour", "black"),
        )


def rule(fig: Any, top: float, _: Any, width: float = WIDTH) -> None:
    from matplotlib.lines import Line2D

    y = fy(top)
    fig.lines.append(
        Line2D([fx(LEFT), fx(LEFT + width)], [y, y], transform=fig.transFigure, color="0.75", lw=1)
    )


def _image(fig: Any, top: float, data: dict[str, Any]) -> None:
    w, h = data["w"], data["h"]
    x = LEFT + (WIDTH - w) / 2
    ax = fig.add_axes((fx(x), fy(top + h), w / PAGE_IN[0], h / PAGE_IN[1]))
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(data["png"])).convert("RGB"))
    ax.imshow(pixels, interpolation="none")  # vector backends embed the pixels as they are
    ax.set_axis_off()


def _table_rows(fig: Any, top: float, data: dict[str, Any]) -> None:
    from matplotlib.patches import Rectangle

    fs, widths, y = data["size"], data["widths"], top
    rows = [(data["head"], True)] if data.get("show_header") else []
    for (cells, height), header in [*rows, (data["row"], False)]:
        if header:
            fig.patches.append(
                Rectangle(
                    (fx(LEFT), fy(y + height)),
                    sum(widths) / PAGE_IN[0],
                    height / PAGE_IN[1],
                    transform=fig.transFigure,
                    facecolor="0.92",
                    edgecolor="none",
                )
            )
        x = LEFT
        for col, (lines, w) in enumerate(zip(cells, widths, strict=True)):
            for k, line in enumerate(lines):
                r = data["right"][col]
                fig.text(
                    fx(x + w - 0.04 if r else x + 0.04),
                    fy(y + 0.03 + k * line_in(fs)),
                    line,
                    fontsize=fs,
                    va="top",
                    ha="right" if r else "left",
                    fontweight="bold" if header else "normal",
                )
            x += w
        y += height
        rule(fig, y, None, sum(widths))


def _nothing(fig: Any, top: float, data: Any) -> None:
    """Vertical space (before a sub-heading)."""


_DRAW: dict[str, Callable[[Any, float, Any], None]] = {
    "text": _text_lines,
    "rule": rule,
    "space": _nothing,
    "image": _image,
    "table": _table_rows,
}


def text_item(
    text: str, size: float, *, bold: bool = False, keep: bool = False, **style: Any
) -> Item:
    lines = [(ln, bold) for ln in textwrap.wrap(text, _chars(size)) or [""]]
    return _text_lines_item(lines, size, keep=keep, **style)


def text_items(text: str, size: float, **style: Any) -> list[Item]:
    """Running text as items of at most :data:`CHUNK_LINES` lines, so a long paragraph flows
    across pages instead of running into the footer."""
    lines = [(ln, False) for ln in textwrap.wrap(text, _chars(size)) or [""]]
    return [
        _text_lines_item(lines[k : k + CHUNK_LINES], size, **style)
        for k in range(0, len(lines), CHUNK_LINES)
    ]


def _text_lines_item(
    lines: list[tuple[str, bool]], size: float, *, keep: bool = False, **style: Any
) -> Item:
    pad = 0.2 if style.get("box") else 0.08
    return Item(
        len(lines) * line_in(size) + pad, "text", {"lines": lines, "size": size, **style}, keep
    )


def _table_items(t: Table, size: float = 7.5) -> list[Item]:
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
    budget = _chars(size, WIDTH) * _CHAR // _TABLE_CHAR
    while sum(natural) > budget:
        shrinkable = [c for c in range(ncol) if natural[c] > floor[c]]
        if not shrinkable:
            break
        natural[max(shrinkable, key=lambda c: natural[c])] -= 1
    total = sum(natural)
    stretch = min(budget / total, 1.4) if total < budget else budget / total
    widths = [WIDTH * n * stretch / budget for n in natural]
    chars = [max(4, int(w * 72 / (_TABLE_CHAR * size)) - 1) for w in widths]

    def row(cells: tuple[str, ...]) -> tuple[list[list[str]], float]:
        wrapped = [textwrap.wrap(c, n) or [""] for c, n in zip(cells, chars, strict=True)]
        return wrapped, max(len(w) for w in wrapped) * line_in(size) + 0.06

    head = row(t.header)
    right = [k > 0 and t.numeric(k) for k in range(ncol)]
    small = len(t.rows) <= SMALL_TABLE  # kept on one page
    return [
        Item(
            r[1],
            "table",
            {"size": size, "widths": widths, "head": head, "row": r, "id": id(t), "right": right},
            keep_with_next=small and k < len(t.rows) - 1,
        )
        for k, r in enumerate(row(cells) for cells in t.rows)
    ]


def _figure_items(f: Figure) -> list[Item]:
    from PIL import Image  # matplotlib's own image library

    pw, ph = Image.open(io.BytesIO(f.png)).size  # the header only: decoded when drawn
    w = min(WIDTH * f.width, pw / 100 * 1.0)  # never upscale beyond the figure's 100 dpi
    w = max(w, min(WIDTH * f.width, 3.0))
    h = w * ph / pw
    max_h = BODY - 1.2
    if h > max_h:
        w, h = w * max_h / h, max_h
    items = [
        Item(h + 0.08, "image", {"png": f.png, "w": w, "h": h}, keep_with_next=bool(f.caption))
    ]
    if f.caption:
        items += text_items(f.caption, 7.5, colour="0.3")
    return items


def block_items(b: Block) -> list[Item]:
    if isinstance(b, Paragraph):
        items = [text_item(b.lead, 9, bold=True, keep=True)] if b.lead else []
        return [
            *items,
            *text_items(b.text, 8 if b.muted else 9, colour="0.35" if b.muted else "black"),
        ]
    if isinstance(b, Flag):
        return text_items(b.text, 8.5, box="#fff3cd", edge="#e0a800")
    if isinstance(b, Subheading):
        return [text_item(b.text, 9.5, bold=True, keep=True)]
    if isinstance(b, Table):
        return _table_items(b)
    if isinstance(b, Figure):
        return _figure_items(b)
    raise TypeError(f"unknown report block {type(b).__name__}")
