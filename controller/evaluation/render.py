"""The evaluation as a Rich table, Markdown or JSON; one ``Report`` feeds all three.

Text and Markdown show the same rows, so the table pasted into docs/evaluation.md is what a
terminal prints; JSON carries every metric, the per-file outcomes and the skipped files, for
scripts and for comparing two runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from controller.evaluation.metrics import (
    BREAKDOWN,
    METRICS,
    SPECS,
    by_fault_class,
    ratio,
    summarize,
)
from controller.evaluation.outcome import FileOutcome, Skipped

COMPARED = (("top1", "baseline_top1"), ("top3", "baseline_top3"))
"""Controller metric versus the baseline's, printed with their ratio."""


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one evaluation run shows."""

    directory: str
    outcomes: Sequence[FileOutcome]
    skipped: Sequence[Skipped]
    seconds: float
    jobs: int
    gate_failures: Sequence[str] = ()
    gates: Sequence[str] = ()
    summary: dict[str, float | None] = field(init=False)
    classes: dict[str, dict[str, float | None]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", summarize(self.outcomes, len(self.skipped)))
        object.__setattr__(self, "classes", by_fault_class(self.outcomes))

    def comparisons(self) -> list[tuple[str, float | None, float | None, float | None]]:
        """(metric, controller, baseline, controller / baseline)."""
        return [
            (mine, self.summary[mine], self.summary[base],
             ratio(self.summary[mine], self.summary[base]))
            for mine, base in COMPARED
        ]  # fmt: skip


def show(name: str, value: float | None) -> str:
    """A metric value as a person reads it: percent, seconds, samples or a count."""
    if value is None:
        return "n/a"
    unit = METRICS[name].unit
    if unit == "count":
        return f"{value:.0f}"
    if unit == "s":
        return f"{value:.0f} s"
    if unit == "n":
        return f"{value:.1f}"
    return f"{value * 100:.1f}%"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _s(count: float | None) -> str:
    return "" if count == 1 else "s"


def headline(report: Report) -> str:
    """``48 files scored (48 faulty, 0 fault-free), 0 skipped, 12.3 s on 2 jobs``."""
    s = report.summary
    return (
        f"{report.directory}: {show('files', s['files'])} file{_s(s['files'])} scored "
        f"({show('faulty', s['faulty'])} faulty, {show('fault_free', s['fault_free'])} "
        f"fault-free), {len(report.skipped)} skipped, {report.seconds:.1f} s on "
        f"{report.jobs} job{_s(report.jobs)}"
    )


def _metric_rows(report: Report) -> list[tuple[str, str, str]]:
    return [(spec.name, show(spec.name, report.summary[spec.name]), spec.meaning) for spec in SPECS]


def _class_header(report: Report) -> list[str]:
    return ["metric", *report.classes]


def _class_rows(report: Report) -> list[list[str]]:
    """One row per metric, one column per fault class: fits a terminal as classes are few."""
    return [
        [column, *(show(column, values[column]) for values in report.classes.values())]
        for column in BREAKDOWN
    ]


def print_text(report: Report, console: Console) -> None:
    """The Rich rendering for a terminal."""
    console.print(headline(report), highlight=False)
    table = Table(title="Metrics", show_lines=False)
    for column in ("metric", "value", "meaning"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in _metric_rows(report):
        table.add_row(*row)
    console.print(table)
    for mine, value, base, times in report.comparisons():
        console.print(
            f"{mine}: controller {show(mine, value)} vs baseline {show(mine, base)} "
            f"({_times(times)})",
            highlight=False,
        )
    classes = Table(title="Per fault class (truth)")
    for column in _class_header(report):
        classes.add_column(column, justify="left" if column == "metric" else "right")
    for class_row in _class_rows(report):
        classes.add_row(*class_row)
    console.print(classes)
    for skipped in report.skipped:
        console.print(f"[yellow]skipped:[/] {skipped.reason}", highlight=False, soft_wrap=True)
    for failure in report.gate_failures:
        console.print(f"[bold red]gate failed:[/] {failure}", highlight=False)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: Report) -> str:
    """The same tables in Markdown (for docs/evaluation.md and CI summaries)."""
    parts = [headline(report), "", _md_table(("metric", "value", "meaning"), _metric_rows(report))]
    parts += [""] + [
        f"- {mine}: controller {show(mine, value)} vs baseline {show(mine, base)} ({_times(times)})"
        for mine, value, base, times in report.comparisons()
    ]
    parts += ["", _md_table(_class_header(report), _class_rows(report))]
    if report.skipped:
        parts += [""] + [f"- skipped: {s.reason}" for s in report.skipped]
    if report.gate_failures:
        parts += [""] + [f"- gate failed: {failure}" for failure in report.gate_failures]
    return "\n".join(parts) + "\n"


def as_json(report: Report) -> str:
    """Every metric, the breakdown, the baseline comparison, gates, skipped and per-file rows."""
    document: dict[str, Any] = {
        "directory": report.directory,
        "seconds": round(report.seconds, 3),
        "jobs": report.jobs,
        "summary": report.summary,
        "by_fault_class": report.classes,
        "baseline": [
            {"metric": m, "controller": v, "baseline": b, "ratio": t}
            for m, v, b, t in report.comparisons()
        ],
        "gates": list(report.gates),
        "gate_failures": list(report.gate_failures),
        "skipped": [s.model_dump(mode="json") for s in report.skipped],
        "files": [o.model_dump(mode="json") for o in report.outcomes],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
