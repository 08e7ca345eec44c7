"""Reports: a self-contained HTML page per patient with figures and tables."""

from braintwin.report.figures import orthogonal_panel
from braintwin.report.html import Section, build_report, png_img

__all__ = ["Section", "build_report", "orthogonal_panel", "png_img"]
