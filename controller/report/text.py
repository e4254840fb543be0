"""Terminal report with rich: header, summary, timeline, comparison and score tables.

Every cell is a ``rich.text.Text`` built from raw strings, never console markup, because
summaries come from untrusted incident files: a summary containing ``[red]`` or ``:smile:``
must print literally. Tables are laid out by ``controller.report.layout``, which wraps only at
spaces, so workload keys, image references, numbers and times are never split (also when the
output is a pipe and the width falls back to 80 columns).
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from controller.replay.result import ReplayResult, TimelineKind
from controller.report.layout import RULE, Cell, Column, Row, table, wrap_text
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
    TimelineKind.MODE: "bold yellow",
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
STATUS_STYLES = {"same": "green", "different": "yellow"}

NARROW = 80
"""Below this many columns the timeline drops its UTC clock column to keep room for text."""

SUMMARY_LIMIT = 240
"""Characters of a timeline summary shown in a terminal; the other formats show all of it.

Planner escalations carry the whole diagnosis, which would turn one row into a screenful.
"""


def stage_style(stage: TimelineKind) -> str:
    """The stage's colour; a stage added later prints unstyled rather than failing."""
    return STAGE_STYLES.get(stage, "")


def print_text(result: ReplayResult, console: Console) -> None:
    """Print the report to ``console``; colours appear only when the console supports them."""
    lines = report_lines(build_view(result), console.width)
    console.print(Text("\n").join(lines), soft_wrap=True)


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


def report_lines(view: ReportView, width: int) -> list[Text]:
    """All sections in reading order; absent data leaves its section out."""
    lines = [*wrap_text(view.heading, width, "bold"), Text(RULE * width, style="dim")]
    lines += _meta(view, width)
    lines += [*wrap_text(view.summary, width, "bold"), Text("")]
    lines += _timeline(view, width)
    if view.comparison:
        lines += _comparison(view.comparison, width)
    if view.verdict is None:
        lines += [Text(""), *wrap_text(not_scored_note(), width, "dim")]
    else:
        lines += _score(view, width)
        style = RESULT_STYLES[PASS if view.verdict.passed else FAIL]
        lines += [Text(""), *wrap_text(f"Verdict: {view.verdict.text}", width, style)]
    return lines


def _meta(view: ReportView, width: int) -> list[Text]:
    rows = [Row((Cell(m.label, "dim"),), (Cell(m.value),)) for m in view.meta]
    return table((Column(""), Column("")), rows, width, header=False)


def _title(title: str) -> Text:
    return Text(title, style="bold")


def _timeline(view: ReportView, width: int) -> list[Text]:
    """Time, dim UTC clock (dropped on narrow terminals), coloured stage, workload, what."""
    show_clock = width >= NARROW
    columns = [Column("time", right=True), Column("stage"), Column("workload")]
    if show_clock:
        columns.insert(1, Column("UTC"))
    columns.append(Column("what happened"))
    rows = [
        Row(
            (
                Cell(row.at.offset),
                *([Cell(row.at.clock, "dim")] if show_clock else []),
                Cell(row.stage.value, stage_style(row.stage)),
                Cell(row.workload),
            ),
            (Cell(clip(row.summary)),),
        )
        for row in view.timeline
    ]
    if not rows:
        empty = tuple(Cell("") for _ in columns[:-1])
        rows = [Row(empty, (Cell("nothing happened", "dim"),))]
    return [_title("Timeline"), *table(columns, rows, width)]


def _comparison(lines: tuple[ComparisonLine, ...], width: int) -> list[Text]:
    """Recorded above replayed, each led by its time offset, in one wrapping column."""
    columns = (Column("workload"), Column("status"), Column("recorded / replayed"))
    rows = [
        Row(
            (Cell(line.workload), Cell(line.status, STATUS_STYLES.get(line.status, "cyan"))),
            (
                _timed("recorded", line.recorded, line.recorded_at),
                _timed("replayed", line.replayed, line.replayed_at),
            ),
        )
        for line in lines
    ]
    return [Text(""), _title("Recorded vs replayed"), *table(columns, rows, width)]


def _timed(label: str, what: str, at: Stamp | None) -> Cell:
    """``"recorded +2m30s rollback ..."`` with the label and offset dimmed."""
    if at is None:
        return Cell("-", lead=label)
    return Cell(what, lead=f"{label} {at.offset}")


def _score(view: ReportView, width: int) -> list[Text]:
    columns = (Column("check"), Column("result"), Column("detail"))
    rows = [
        Row(
            (Cell(line.check), Cell(line.result, RESULT_STYLES.get(line.result, "dim"))),
            (Cell(line.detail),),
        )
        for line in view.score
    ]
    return [Text(""), _title("Score"), *table(columns, rows, width)]


def clip(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Shorten ``text`` to at most ``limit`` characters at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 4].rsplit(" ", 1)[0] or text[: limit - 4]
    return f"{cut} ..."
