"""Reports: the twin's HTML page and PDF, built from one document of typed blocks.

:mod:`braintwin.report.document` holds the blocks; :mod:`~braintwin.report.html` and
:mod:`~braintwin.report.pdf` render them; the figure modules draw the images. The twin's
assembly lives in :mod:`braintwin.twin.reporting`.
"""

from braintwin.report.document import (
    Block,
    Figure,
    Flag,
    Paragraph,
    ReportDocument,
    Section,
    Subheading,
    Table,
)

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
