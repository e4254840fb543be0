"""GitHub-flavoured Markdown report, for pasting into a postmortem.

Same content as the terminal report. Cell text comes from untrusted incident files, so the
characters that start raw HTML, links, images, code and emphasis are backslash-escaped and
newlines flattened: a summary can neither break a table row nor inject markup into the
postmortem. Intra-word underscores (``slo_burn``) are inert in GFM and stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from controller.replay.result import ReplayResult
from controller.report.view import FAIL, PASS, ReportView, Stamp, build_view, not_scored_note

_SPECIAL = re.compile(r"([\\`*\[\]<|~]|(?<!\w)_|_(?!\w))")
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def escape_markdown(text: str) -> str:
    """Escape text for a GFM table cell: one line, no active syntax."""
    return _SPECIAL.sub(r"\\\1", _NEWLINES.sub(" ", text.strip()))


def render_markdown(result: ReplayResult) -> str:
    """The whole report as Markdown, ending with a newline."""
    view = build_view(result)
    lines = [f"# Replay: {escape_markdown(view.heading)}", ""]
    lines += _table(("", ""), [(f"**{m.label}**", escape_markdown(m.value)) for m in view.meta])
    lines += ["", f"**Summary:** {escape_markdown(view.summary)}", "", "## Timeline", ""]
    lines += _timeline(view)
    if view.comparison:
        lines += ["", "## Recorded vs replayed", ""]
        lines += _comparison(view)
    lines += ["", "## Score", ""]
    lines += _score(view)
    return "\n".join(lines) + "\n"


def _timeline(view: ReportView) -> list[str]:
    rows = [
        (
            _code(row.at.offset),
            _code(row.at.utc),
            row.stage.value,
            _code(row.workload) if row.workload else "",
            escape_markdown(row.summary),
        )
        for row in view.timeline
    ]
    if not rows:
        return ["Nothing happened."]
    return _table(("Time", "UTC", "Stage", "Workload", "What happened"), rows)


def _comparison(view: ReportView) -> list[str]:
    rows = [
        (
            _code(line.workload) if line.workload else "",
            line.status,
            escape_markdown(line.recorded) or "-",
            _when(line.recorded_at),
            escape_markdown(line.replayed) or "-",
            _when(line.replayed_at),
        )
        for line in view.comparison
    ]
    headers = ("Workload", "Status", "Recorded", "Recorded at", "Replayed", "Replayed at")
    return _table(headers, rows)


def _score(view: ReportView) -> list[str]:
    if view.verdict is None:
        return [not_scored_note()]
    rows = [
        (
            escape_markdown(s.check),
            f"**{s.result}**" if s.result in (PASS, FAIL) else s.result,
            escape_markdown(s.detail),
        )
        for s in view.score
    ]
    verdict = escape_markdown(view.verdict.text)
    return [*_table(("Check", "Result", "Detail"), rows), "", f"**Verdict:** {verdict}"]


def _when(at: Stamp | None) -> str:
    """Offset with the absolute UTC time beside it."""
    return "-" if at is None else f"{_code(at.offset)} ({at.utc})"


def _code(text: str) -> str:
    """Inline code for short machine-ish values (times, workload keys); backticks removed."""
    return f"`{text.replace('`', '')}`" if text else ""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GFM pipe table; cells must already be escaped."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
