"""The HTML report: one self-contained file (figures embedded) per patient.

Renders a :class:`~braintwin.report.document.ReportDocument`; every text is escaped here
(blocks hold plain text), figures are embedded as base64 PNG so the file stands alone.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

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

__all__ = ["png_img", "render_html", "write_html"]

_NUM = ' class="n"'  # numbers right-aligned, text left (see the template's style)


def png_img(png: bytes, alt: str = "figure") -> str:
    """An ``<img>`` tag embedding PNG bytes."""
    src = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{src}">'


def _block(b: Block) -> str:
    e = html.escape
    if isinstance(b, Paragraph):
        lead = f"<b>{e(b.lead)}</b> " if b.lead else ""
        cls = ' class="muted"' if b.muted else ""
        return f"<p{cls}>{lead}{e(b.text)}</p>"
    if isinstance(b, Flag):
        return f'<div class="flag">{e(b.text)}</div>'
    if isinstance(b, Subheading):
        return f"<h4>{e(b.text)}</h4>"
    if isinstance(b, Table):
        num = [k > 0 and b.numeric(k) for k in range(len(b.header))]

        def cell(tag: str, text: str, n: bool) -> str:
            return f"<{tag}{_NUM if n else ''}>{e(text)}</{tag}>"

        head = "".join(cell("th", h, n) for h, n in zip(b.header, num, strict=True))
        body = "".join(
            "<tr>" + "".join(cell("td", c, n) for c, n in zip(r, num, strict=True)) + "</tr>"
            for r in b.rows
        )
        return f"<table><tr>{head}</tr>{body}</table>"
    if isinstance(b, Figure):
        style = f' style="width:{b.width * 100:.0f}%"' if b.width < 1 else ""
        cap = f"<figcaption>{e(b.caption)}</figcaption>" if b.caption else ""
        img = png_img(b.png, b.alt).replace("<img ", f"<img{style} ", 1)
        return f"<figure>{img}{cap}</figure>"
    raise TypeError(f"unknown report block {type(b).__name__}")


def render_html(doc: ReportDocument) -> str:
    """The report as one HTML page."""
    import jinja2

    parts = []
    for s in doc.sections:
        tag = "h2" if s.level == 1 else "h3"
        parts.append(f"<{tag}>{html.escape(s.title)}</{tag}>")
        parts += [_block(b) for b in s.blocks]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("braintwin.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    return env.get_template("report.html.j2").render(doc=doc, body="\n".join(parts))


def write_html(doc: ReportDocument, out: Path) -> Path:
    """Write the HTML report to ``out`` (atomically) and return the path."""
    out = Path(out)
    atomic_write(out, render_html(doc))
    return out
