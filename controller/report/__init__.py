"""Renderers for replay results: terminal, JSON, Markdown and a self-contained HTML page."""

from __future__ import annotations

from controller.report.render import FORMATS, ReportFormat, render
from controller.report.text import print_text

__all__ = ["FORMATS", "ReportFormat", "print_text", "render"]
