"""``aiops replay``: an incident file through detection, planning, guardrails and approvals."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from controller.bundled import default_policy, default_runbooks
from controller.cli.common import guard, stderr, write_atomically
from controller.errors import IncidentFileError, InputError
from controller.guardrails.loader import load_policy
from controller.incident_loader import dump_incident, load_incident
from controller.ledger import LedgerWriter, ledger_key
from controller.logging import configure_logging
from controller.models.incident_file import IncidentFile, LlmExchange
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
from controller.report.view import score_verdict
from controller.settings import Settings, load_settings


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
    """

    def run() -> None:
        _check_record_to(record_to, planner)
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

        key = ledger_key(os.environ)
        window_end = loaded.window.end  # the seal is dated in replayed time: reproducible
        with LedgerWriter(ledger_path, key=key, clock=lambda: window_end) as writer:
            engine = ReplayEngine(inputs, writer)
            result = engine.run()
            result = result.model_copy(
                update={"run": result.run.model_copy(update={"ledger_path": str(ledger_path)})}
            )
            text = _render(result, output_format, output)
            exchanges = engine.recorded_exchanges()
            exposition = engine.controller_metrics.exposition().decode("utf-8")
        if record_to is not None:
            _record(record_to, loaded, exchanges, result)
        if metrics is not None:
            write_atomically(metrics, exposition)
        if output is not None:
            write_atomically(output, text)
            stderr.print(f"report written to {output}; ledger {ledger_path}", highlight=False)
        elif output_format is not ReportFormat.TEXT:
            sys.stdout.write(text)
        _exit_on_fail(result)

    guard(run)


EXIT_SCORE_FAILED = 1
"""``aiops replay``'s status when the replay is scored and its verdict is FAIL."""


def _exit_on_fail(result: ReplayResult) -> None:
    """Exit with EXIT_SCORE_FAILED (after every output is written) when the score failed."""
    if result.score is None or result.score.passed:
        return
    verdict = score_verdict(result.score)
    stderr.print(f"score: {verdict.text}; exit status {EXIT_SCORE_FAILED}", highlight=False)
    raise typer.Exit(EXIT_SCORE_FAILED)


def _check_record_to(record_to: Path | None, planner: PlannerMode) -> None:
    """Only a live LLM run has exchanges to record: refuse the flag with any other planner."""
    if record_to is not None and planner is not PlannerMode.LLM:
        raise InputError(
            "--record-to",
            "",
            f"only a --planner llm run has LLM exchanges to record (this run: --planner "
            f"{planner.value}); nothing would be written",
        )


def _record(
    path: Path,
    incident: IncidentFile,
    exchanges: tuple[LlmExchange, ...],
    result: ReplayResult,
) -> None:
    """Write the incident plus this run's exchanges; with none, write nothing and warn."""
    if not exchanges:
        llm = result.llm
        if llm is None or llm.calls == 0:
            why = "no incident was planned"
        else:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(llm.fallbacks.items()))
            why = f"every LLM call fell back before a request: {reasons}"
        stderr.print(
            f"[yellow]warning:[/] --record-to {escape(str(path))}: not written: this run made "
            f"no LLM exchanges ({escape(why)})",
            highlight=False,
            soft_wrap=True,
        )
        return
    recorded = (*incident.llm_exchanges, *exchanges)
    write_atomically(path, dump_incident(incident.model_copy(update={"llm_exchanges": recorded})))


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


def _render(result: ReplayResult, fmt: ReportFormat, output: Path | None) -> str:
    if fmt is ReportFormat.TEXT and output is None:
        print_text(result, Console())
        return ""
    return render(result, fmt.value)
