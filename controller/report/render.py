"""One entry point for every report format: ``render(result, fmt)``."""

from __future__ import annotations

from typing import Literal, get_args

from controller.errors import InputError
from controller.replay.result import ReplayResult
from controller.report.html import render_html
from controller.report.markdown import render_markdown
from controller.report.text import render_text

ReportFormat = Literal["text", "json", "markdown", "html"]
FORMATS: tuple[str, ...] = get_args(ReportFormat)


def render(result: ReplayResult, fmt: ReportFormat, *, width: int = 100) -> str:
    """Render ``result`` as ``fmt``; ``width`` applies to the text format only.

    JSON is the model itself (``model_dump_json``), so a saved report re-loads with
    ``ReplayResult.model_validate_json`` and can be re-rendered in any other format later.

    Raises:
        InputError: ``fmt`` is not one of FORMATS (it usually comes from a CLI flag).
    """
    if fmt == "text":
        return render_text(result, width=width)
    if fmt == "json":
        return result.model_dump_json(indent=2)
    if fmt == "markdown":
        return render_markdown(result)
    if fmt == "html":
        return render_html(result)
    raise InputError("--format", "", f"unknown report format {fmt!r}: use {', '.join(FORMATS)}")
