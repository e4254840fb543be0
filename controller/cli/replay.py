"""``aiops replay``: an incident file through detection, planning, guardrails and approvals."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from controller.bundled import default_policy, default_runbooks
from controller.cli.common import guard, stderr, write_atomically
from controller.errors import IncidentFileError
from controller.guardrails.loader import load_policy
from controller.incident_loader import dump_incident, load_incident
from controller.ledger import LedgerWriter
from controller.logging import configure_logging
from controller.models.incident_file import IncidentFile
from controller.planner.runbook.catalog import Runbook, load_runbooks
from controller.replay.inputs import (
    ApprovalsMode,
    PlannerMode,
    ProposerFactory,
    ReplayInputs,
    default_approvals_mode,
)
from controller.replay.result import ReplayResult
from controller.report import print_text, render
from controller.settings import Settings, load_settings

if TYPE_CHECKING:
    from controller.replay.engine import ReplayEngine


class ReportFormat(StrEnum):
    """Output formats of ``aiops replay``."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


def replay(
    incident: Annotated[Path, typer.Argument(help="Incident file (JSON).")],
    policy: Annotated[Path | None, typer.Option(help="Policy file; default: bundled.")] = None,
    runbooks: Annotated[Path | None, typer.Option(help="Runbook folder; default: bundled.")] = None,
    approvals: Annotated[
        ApprovalsMode | None,
        typer.Option(
            help="Who answers approvals; default: recorded if the file has any, else grant."
        ),
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(help="Ledger file to write; default: <incident name>.ledger.jsonl."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(envvar="AIOPS_CONFIG", help="Settings YAML file.")
    ] = None,
    planner: Annotated[
        PlannerMode,
        typer.Option(
            help="runbook: deterministic only; llm: Claude beside the runbook planner "
            "(ANTHROPIC_API_KEY; without it every incident falls back); recorded: replay the "
            "file's llm_exchanges offline (a missing recording is an error)."
        ),
    ] = PlannerMode.RUNBOOK,
    record_to: Annotated[
        Path | None,
        typer.Option(help="With --planner llm: write the incident plus its LLM exchanges here."),
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(
            help="Write the controller metrics this run would have exported (Prometheus "
            "text format) to this file."
        ),
    ] = None,
) -> None:
    """Replay an incident through detection, planning, guardrails and approvals."""

    def run() -> None:
        settings = load_settings(config)
        configure_logging(settings.log)
        loaded = load_incident(incident)
        books = load_runbooks(runbooks or default_runbooks())
        inputs = ReplayInputs(
            incident=loaded,
            source=str(incident),
            policy=load_policy(policy or default_policy()),
            runbooks=books,
            settings=settings,
            approvals=approvals or default_approvals_mode(loaded),
            planner=planner,
            proposer_factory=_proposer_factory(planner, loaded, str(incident), settings, books),
        )
        ledger_path = ledger or Path(f"{loaded.metadata.name}.ledger.jsonl")
        # Imported here: the planner graph (LangGraph) is only needed once a replay runs.
        from controller.replay.engine import ReplayEngine

        with LedgerWriter(ledger_path) as writer:
            engine = ReplayEngine(inputs, writer)
            result = engine.run()
            result = result.model_copy(
                update={"run": result.run.model_copy(update={"ledger_path": str(ledger_path)})}
            )
            text = _render(result, output_format, output)
            recording = _with_exchanges(loaded, engine) if record_to is not None else None
            exposition = engine.controller_metrics.exposition().decode("utf-8")
        if record_to is not None and recording is not None:
            write_atomically(record_to, dump_incident(recording))
        if metrics is not None:
            write_atomically(metrics, exposition)
        if output is not None:
            write_atomically(output, text)
            stderr.print(f"report written to {output}; ledger {ledger_path}", highlight=False)
        elif output_format is not ReportFormat.TEXT:
            sys.stdout.write(text)

    guard(run)


def _proposer_factory(
    mode: PlannerMode,
    incident: IncidentFile,
    source: str,
    settings: Settings,
    runbooks: tuple[Runbook, ...],
) -> ProposerFactory | None:
    """The LLM planner the flag asks for, built once the engine supplies tools and clock."""
    if mode is PlannerMode.RUNBOOK:
        return None
    # Imported here: the SDK costs a second at start-up that runbook replays need not pay.
    from controller.planner.claude.client import build_claude_planner
    from controller.planner.claude.recorded import build_recorded_planner

    if mode is PlannerMode.RECORDED:
        exchanges = incident.llm_exchanges
        if not exchanges:
            raise IncidentFileError(
                source,
                "$.llm_exchanges",
                "no recorded LLM exchanges to replay; use --planner runbook or --planner llm",
            )
        return lambda tools, clock: build_recorded_planner(
            exchanges, settings.llm, runbooks, tools_data=tools, clock=clock
        )
    api_key = os.environ.get("ANTHROPIC_API_KEY") or None  # read once, at start-up
    return lambda tools, clock: build_claude_planner(
        settings.llm, api_key, runbooks=runbooks, tools_data=tools, clock=clock
    )


def _with_exchanges(incident: IncidentFile, engine: ReplayEngine) -> IncidentFile:
    """The incident file with this run's LLM exchanges appended (live runs record them)."""
    recorded = (*incident.llm_exchanges, *engine.recorded_exchanges())
    return incident.model_copy(update={"llm_exchanges": recorded})


def _render(result: ReplayResult, fmt: ReportFormat, output: Path | None) -> str:
    if fmt is ReportFormat.TEXT and output is None:
        print_text(result, Console())
        return ""
    return render(result, fmt.value)
