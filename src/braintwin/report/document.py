"""The report as data: titled sections of typed blocks, rendered to HTML or to PDF.

One document feeds both renderers (:mod:`braintwin.report.html`, :mod:`braintwin.report.pdf`)
so the two always show the same text, tables and figures. Blocks hold plain text (renderers
escape it) and PNG bytes; nothing here is HTML, so no stored string can inject markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# a cell that starts with a number: "12.3", "-27 %", "0.02 – 0.3", "43 days (1.4 months)"
_NUMBER = re.compile(r"^[+\-−]?\d")

__all__ = [
    "Block",
    "Figure",
    "Flag",
    "Paragraph",
    "ReportDocument",
    "Section",
    "Subheading",
    "Table",
]


@dataclass(frozen=True)
class Paragraph:
    """Running text; ``lead`` is printed in bold before it (e.g. "Treatment plan assumed:")."""

    text: str
    lead: str = ""
    muted: bool = False


@dataclass(frozen=True)
class Flag:
    """A warning the reader must not miss (stale model, synthetic data, experimental output)."""

    text: str


@dataclass(frozen=True)
class Subheading:
    text: str


@dataclass(frozen=True)
class Table:
    """Cells are already formatted for people (see :func:`braintwin.report.numbers`)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @staticmethod
    def of(header: list[str], rows: list[list[str]]) -> Table:
        return Table(tuple(header), tuple(tuple(str(c) for c in r) for r in rows))

    def numeric(self, column: int) -> bool:
        """Whether a column holds numbers (right-aligned); text columns read left-aligned."""
        cells = [r[column] for r in self.rows if r[column] not in ("", "–")]
        return bool(cells) and all(_NUMBER.match(c) for c in cells)


@dataclass(frozen=True)
class Figure:
    """A rendered figure (PNG bytes) with a caption under it.

    ``width`` is the share of the text width it should take (1.0: full width).
    """

    png: bytes
    alt: str
    caption: str = ""
    width: float = 1.0


Block = Paragraph | Flag | Subheading | Table | Figure


@dataclass
class Section:
    """A titled part of the report; ``level`` 1 is a chapter (e.g. a visit), 2 within one."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 1


@dataclass
class ReportDocument:
    """Everything a report shows, in reading order.

    Attributes:
        pseudonym: the patient's pseudonym (the only name a report ever carries).
        generated: when and by what version (e.g. "2026-12-01 02:00 UTC, braintwin 0.1").
        summary: the plain-language paragraph that opens the report.
        sections: chapters and their sub-sections, in order.
    """

    pseudonym: str
    generated: str
    summary: str
    sections: list[Section] = field(default_factory=list)

    @property
    def disclaimer(self) -> str:
        return (
            "Research software: not a medical device and not for clinical decisions. "
            "De-identified: the patient is shown by pseudonym and every date is shifted by a "
            "secret per-patient offset (intervals between dates are exact)."
        )
