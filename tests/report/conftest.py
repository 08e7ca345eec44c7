"""Helpers of the report tests: the text a PDF draws, read without a PDF library."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

import pytest

_LITERAL = re.compile(rb"\((?:\\.|[^\\)])*\)")
_TJ = re.compile(rb"\[(.*?)\]\s*TJ|(\((?:\\.|[^\\)])*\))\s*Tj", re.S)


def _unescape(lit: bytes) -> str:
    body = lit[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == 0x5C and i + 1 < len(body):  # backslash
            nxt = body[i + 1 : i + 4]
            m = re.match(rb"[0-7]{1,3}", nxt)
            if m:
                out.append(int(m.group(), 8) & 0xFF)
                i += 1 + len(m.group())
                continue
            out.append({ord("n"): 10, ord("t"): 9, ord("r"): 13}.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return out.decode("latin-1")


def pdf_streams(data: bytes) -> bytes:
    """Every Flate stream of ``data`` inflated and concatenated (undecodable ones skipped)."""
    out = []
    for m in re.finditer(rb"stream\r?\n", data):
        try:
            out.append(zlib.decompressobj().decompress(data[m.end() : m.end() + 50_000_000]))
        except zlib.error:
            continue
    return b"\n".join(out)


def pdf_text(data: bytes) -> str:
    """The strings drawn by TJ/Tj operators, one text object a line (kerning dropped).

    Enough for ASCII text written by matplotlib's PDF backend; glyphs outside ASCII come out
    as whatever byte the font's encoding gave them.
    """
    lines = []
    for m in _TJ.finditer(pdf_streams(data)):
        lits = _LITERAL.findall(m.group(1)) if m.group(1) is not None else [m.group(2)]
        lines.append("".join(_unescape(x) for x in lits))
    return "\n".join(lines)


@pytest.fixture
def read_pdf_text() -> Callable[[bytes], str]:
    return pdf_text


@pytest.fixture
def read_pdf_streams() -> Callable[[bytes], bytes]:
    return pdf_streams
