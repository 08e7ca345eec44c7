"""Assemble the twin's report from its stored visits and artifacts."""

from __future__ import annotations

from pathlib import Path

from braintwin.report import Section, build_report
from braintwin.twin.twin import Twin

__all__ = ["default_report_path", "write_report"]


def default_report_path(twin: Twin) -> Path:
    """``$BRAINTWIN_HOME/reports/<pseudonym>.html`` (the file name carries no identifier)."""
    return Path(twin.store.home) / "reports" / f"{twin.id}.html"


def write_report(twin: Twin, out: Path | None = None) -> Path:
    """Write the HTML report of ``twin`` and record it in the twin's history."""
    sections: list[Section] = []
    path = build_report(twin.patient(), out or default_report_path(twin), sections=sections)
    twin.store.log_event(twin.id, "report", {"file": path.name})
    return path
