"""``aiops eval DIR``: score every incident file with ground truth under a folder.

Flags only at import time (Typer and the standard library), like the other command modules;
the evaluation itself (``controller.evaluation``: the replay engine, the planner graph) is
imported when the command runs, so ``aiops --help`` stays fast.

Exit status: 0 when every ``--fail-under`` gate holds (or none is given); 1 when a gate fails
(the report is still printed); 2 on a user mistake: a missing folder, a bad flag or metric
name, an unreadable policy, runbook or settings file, or a folder without any scorable file.
A single bad incident file is not a user mistake of the run: it is skipped and listed.
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from controller.cli.common import check_output, fail, guard, stderr, write_output

if TYPE_CHECKING:  # the evaluation is imported when the command runs
    from controller.evaluation.outcome import FileOutcome, Skipped
    from controller.evaluation.render import Report
    from controller.evaluation.runner import EvalConfig

EXIT_GATE_FAILED = 1
"""``aiops eval``'s status when a ``--fail-under`` gate fails."""


class EvalFormat(StrEnum):
    """Report formats of ``aiops eval``."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def eval_command(
    directory: Annotated[
        Path, typer.Argument(help="Folder of incident files (searched recursively), or a file.")
    ],
    output_format: Annotated[
        EvalFormat, typer.Option("--format", "-f", help="Report format.")
    ] = EvalFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            metavar="METRIC=VALUE",
            help="METRIC=VALUE (repeatable): exit 1 when METRIC is worse than VALUE (below "
            "it; above it for lower-is-better metrics such as false_alarm_rate).",
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Worker processes; 0: one per core.")
    ] = 0,
    progress: Annotated[
        bool | None,
        typer.Option(help="Progress bar on stderr; default: on when stderr is a terminal."),
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy file; default: bundled.")] = None,
    runbooks: Annotated[Path | None, typer.Option(help="Runbook folder; default: bundled.")] = None,
    config: Annotated[
        Path | None, typer.Option(envvar="AIOPS_CONFIG", help="Settings YAML file.")
    ] = None,
) -> None:
    """Replay and score every incident file with ground truth under DIR (aiops replay's engine).

    Prints detection rate, time to detect, root-cause top-1/top-3 over all workloads (and a
    naive baseline's), fault-class and action accuracy, remediations versus escalations and
    false alarms on fault-free files, overall and per fault class. Files that cannot be
    scored are listed as skipped; the run goes on. Metrics: docs/evaluation.md.
    """

    def run() -> None:
        _run(directory, output_format, output, fail_under or [], jobs, progress,
             (policy, runbooks, config))  # fmt: skip

    guard(run)


def _run(
    directory: Path,
    output_format: EvalFormat,
    output: Path | None,
    fail_under: list[str],
    jobs: int,
    progress: bool | None,
    inputs: tuple[Path | None, Path | None, Path | None],
) -> None:
    from controller.evaluation.metrics import GateError, parse_gate

    try:
        gates = [parse_gate(text) for text in fail_under]
    except GateError as exc:
        fail(str(exc))
    if not directory.exists():
        fail(f"{directory}: no such file or folder")
    if output is not None:
        check_output(output, "-o")
    # Imported here: the replay engine and the planner graph cost a second at start-up.
    from rich.console import Console

    from controller.evaluation.render import Report, as_json, markdown, print_text
    from controller.evaluation.runner import EvalConfig, check_config, default_jobs, incident_paths

    policy, runbooks, config = inputs
    eval_config = EvalConfig(policy=policy, runbooks=runbooks, config=config)
    check_config(eval_config)
    paths = incident_paths(directory)
    if not paths:
        fail(f"{directory}: no *.json incident files found")
    workers = max(1, min(jobs or default_jobs(), len(paths)))
    started = time.monotonic()
    outcomes, skipped = _evaluate(paths, eval_config, workers, progress)
    if not outcomes:
        for item in skipped:
            stderr.print(f"skipped: {item.reason}", highlight=False, soft_wrap=True)
        fail(f"{directory}: no incident file with ground truth could be scored")
    report = Report(str(directory), outcomes, skipped, time.monotonic() - started, workers)
    failures = [f for gate in gates if (f := gate.failure(report.summary)) is not None]
    report = Report(str(directory), outcomes, skipped, report.seconds, workers,
                    gate_failures=failures, gates=fail_under)  # fmt: skip
    if output_format is EvalFormat.TEXT and output is None:
        print_text(report, Console())
    else:
        render = {EvalFormat.JSON: as_json, EvalFormat.MARKDOWN: markdown}
        text = render[output_format](report) if output_format in render else _plain(report)
        if output is None:
            sys.stdout.write(text)
        else:
            write_output(output, text, flag="-o")
            stderr.print(f"report written to {output}", highlight=False)
    if failures:
        for failure in failures:
            stderr.print(f"gate failed: {failure}", highlight=False)
        raise typer.Exit(EXIT_GATE_FAILED)


def _plain(report: Report) -> str:
    """The text table as plain characters (``--format text -o FILE``)."""
    from io import StringIO

    from rich.console import Console

    from controller.evaluation.render import print_text

    buffer = StringIO()
    print_text(report, Console(file=buffer, width=160, color_system=None))
    return buffer.getvalue()


def _evaluate(
    paths: list[Path], config: EvalConfig, workers: int, progress: bool | None
) -> tuple[list[FileOutcome], list[Skipped]]:
    """Run the evaluation under a Rich progress bar on stderr (off when not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from controller.evaluation.runner import evaluate

    show = stderr.is_terminal if progress is None else progress
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not show,
        transient=True,
    )
    with bar:
        task = bar.add_task("replaying", total=len(paths))
        return evaluate(paths, config, jobs=workers, progress=lambda _r: bar.advance(task))
