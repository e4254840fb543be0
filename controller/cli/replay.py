"""``aiops replay``: its flags, and nothing heavier than them.

The work, and what it imports (loaders, the engine, the planner graph, the renderers), lives in
``controller.cli.replay_run``, imported when the command runs: ``aiops version`` and ``aiops
--help`` need only the flags (``controller.cli.flags``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller.cli.common import guard
from controller.cli.flags import ApprovalsFlag, PlannerFlag, ReplayRequest, ReportFormat


def replay(
    incident: Annotated[Path, typer.Argument(help="Incident file (JSON).")],
    policy: Annotated[Path | None, typer.Option(help="Policy file; default: bundled.")] = None,
    runbooks: Annotated[Path | None, typer.Option(help="Runbook folder; default: bundled.")] = None,
    approvals: Annotated[
        ApprovalsFlag | None,
        typer.Option(
            help="Who answers approvals; default: recorded if the file has any, else grant."
        ),
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to this file ('-': stdout)."),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="Ledger file to write ('-': stdout, with -o FILE); default: <incident "
            "name>.ledger.jsonl."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(envvar="AIOPS_CONFIG", help="Settings YAML file.")
    ] = None,
    planner: Annotated[
        PlannerFlag,
        typer.Option(
            help="runbook: deterministic only; llm: Claude beside the runbook planner "
            "(ANTHROPIC_API_KEY; without it every incident falls back); recorded: replay the "
            "file's llm_exchanges offline (a missing recording is an error)."
        ),
    ] = PlannerFlag.RUNBOOK,
    record_to: Annotated[
        Path | None,
        typer.Option(
            help="With --planner llm: write the incident plus this run's LLM exchanges here "
            "(any other planner: exit 2; no exchange made: nothing written, a warning)."
        ),
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(
            help="Write the controller metrics this run would have exported (Prometheus "
            "text format) to this file."
        ),
    ] = None,
) -> None:
    """Replay an incident through detection, planning, guardrails and approvals.

    Exit status: 0 when the replay passes its score (or the file has no ground truth to score
    against), 1 when it is scored and the verdict is FAIL (the report and ledger are still
    written), 2 on bad input (one line on stderr naming the file or flag, no output file).
    Output paths: docs/output-files.md.
    """
    from controller.cli.replay_run import run_replay  # the heavy part: only when it runs

    request = ReplayRequest(
        incident=incident,
        policy=policy,
        runbooks=runbooks,
        approvals=approvals,
        output_format=output_format,
        output=output,
        ledger=ledger,
        config=config,
        planner=planner,
        record_to=record_to,
        metrics=metrics,
    )
    guard(lambda: run_replay(request))
