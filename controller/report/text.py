"""Terminal report with rich: header, summary, timeline, comparison and score tables.

Every cell is a ``rich.text.Text`` built from raw strings, never console markup, because
summaries come from untrusted incident files: a summary containing ``[red]`` or ``:smile:``
must print literally.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from controller.replay.result import ReplayResult, TimelineKind
from controller.report.view import (
    FAIL,
    PASS,
    ComparisonLine,
    ReportView,
    Stamp,
    build_view,
    not_scored_note,
)

STAGE_STYLES: dict[TimelineKind, str] = {
    TimelineKind.DETECTION: "bold red",
    TimelineKind.BLIND: "magenta",
    TimelineKind.SIGHT_RESTORED: "cyan",
    TimelineKind.PLANNER: "blue",
    TimelineKind.PROPOSAL: "blue",
    TimelineKind.VERDICT: "yellow",
    TimelineKind.APPROVAL: "cyan",
    TimelineKind.ACTION: "bold green",
    TimelineKind.VERIFICATION: "green",
    TimelineKind.ESCALATION: "bold magenta",
    TimelineKind.RESOLVED: "dim green",
}
"""One colour per loop stage, so the eye can follow detect -> act -> verify down the table."""

RESULT_STYLES = {PASS: "bold green", FAIL: "bold red"}

NARROW = 90
"""Below this many columns the timeline drops its UTC clock column to keep room for text."""

SUMMARY_LIMIT = 240
"""Characters of a timeline summary shown in a terminal; the other formats show all of it.

Planner escalations carry the whole diagnosis, which would turn one row into a screenful.
"""


def print_text(result: ReplayResult, console: Console) -> None:
    """Print the report to ``console``; colours appear only when the console supports them."""
    console.print(_report(build_view(result), console.width))


def render_text(result: ReplayResult, width: int = 100) -> str:
    """The report as plain text (no colour codes) at ``width`` columns."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system=None,
        force_terminal=False,
        force_interactive=False,
        highlight=False,
        markup=False,
        emoji=False,
        legacy_windows=False,
    )
    print_text(result, console)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def _report(view: ReportView, width: int) -> Group:
    """All sections in reading order; absent data leaves its section out."""
    parts: list[RenderableType] = [
        Rule(Text(view.heading, style="bold"), align="left"),
        _meta(view),
        Text(view.summary, style="bold"),
        Text(""),
        _timeline(view, show_clock=width >= NARROW),
    ]
    if view.comparison:
        parts.append(_comparison(view.comparison))
    if view.verdict is None:
        parts.append(Text(not_scored_note(), style="dim"))
    else:
        parts.append(_score(view))
        style = RESULT_STYLES[PASS if view.verdict.passed else FAIL]
        parts.append(Text(f"Verdict: {view.verdict.text}", style=style))
    return Group(*parts)


def _meta(view: ReportView) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for item in view.meta:
        grid.add_row(Text(item.label), Text(item.value))
    return grid


def _table(title: str) -> Table:
    return Table(
        title=Text(title, style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=True,
    )


def _timeline(view: ReportView, *, show_clock: bool) -> Table:
    """Time, dim UTC clock (dropped on narrow terminals), coloured stage, workload, what."""
    table = _table("Timeline")
    table.add_column("time", justify="right", no_wrap=True)
    if show_clock:
        table.add_column("UTC", style="dim", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("workload", overflow="fold", max_width=28)
    table.add_column("what happened", overflow="fold", ratio=1, min_width=24)
    for row in view.timeline:
        clock = [Text(row.at.clock)] if show_clock else []
        table.add_row(
            Text(row.at.offset),
            *clock,
            Text(row.stage.value, style=STAGE_STYLES[row.stage]),
            Text(row.workload),
            Text(clip(row.summary)),
        )
    if not view.timeline:
        table.add_row(*[Text("")] * (len(table.columns) - 1), Text("nothing happened"))
    return table


def _comparison(lines: tuple[ComparisonLine, ...]) -> Table:
    """Recorded next to replayed, each with its time offset."""
    table = _table("Recorded vs replayed")
    table.add_column("workload", overflow="fold", max_width=24)
    table.add_column("status", no_wrap=True)
    table.add_column("recorded", overflow="fold", ratio=1)
    table.add_column("replayed", overflow="fold", ratio=1)
    styles = {"same": "green", "different": "yellow"}
    for line in lines:
        table.add_row(
            Text(line.workload),
            Text(line.status, style=styles.get(line.status, "cyan")),
            _timed(line.recorded, line.recorded_at),
            _timed(line.replayed, line.replayed_at),
        )
    return table


def _timed(what: str, at: Stamp | None) -> Text:
    """``"+2m30s rollback ..."`` with the offset dimmed; a dash when there is nothing."""
    if at is None:
        return Text("-", style="dim")
    text = Text(at.offset, style="dim")
    text.append(f" {what}")
    return text


def _score(view: ReportView) -> Table:
    table = _table("Score")
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold", ratio=1)
    for line in view.score:
        style = RESULT_STYLES.get(line.result, "dim")
        table.add_row(Text(line.check), Text(line.result, style=style), Text(line.detail))
    return table


def clip(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Shorten ``text`` to at most ``limit`` characters at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 4].rsplit(" ", 1)[0] or text[: limit - 4]
    return f"{cut} ..."
