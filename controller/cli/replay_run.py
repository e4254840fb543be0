"""What ``aiops replay`` does once its flags are parsed (``controller.cli.replay``).

Every output path is checked before any work (``check_output``: a directory, a missing folder
or two outputs on stdout are one line and exit 2, nothing written) and written at the end by
``write_output`` (all or nothing for files, through for devices, FIFOs and ``-``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from controller.bundled import default_policy, default_runbooks
from controller.cli.common import check_output, stderr, write_output
from controller.cli.flags import ReplayRequest, ReportFormat
from controller.errors import IncidentFileError, InputError
from controller.guardrails.loader import load_policy
from controller.incident_loader import dump_incident, load_incident
from controller.ledger import LedgerWriter, ledger_key
from controller.logging import configure_logging
from controller.models.incident_file import IncidentFile, LlmExchange
from controller.outputs import STDOUT, is_stdout
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

EXIT_SCORE_FAILED = 1
"""``aiops replay``'s status when the replay is scored and its verdict is FAIL."""

_CARRIES = {"-o": "the report", "--ledger": "the ledger", "--metrics": "the metrics",
            "--record-to": "the recorded incident"}  # fmt: skip


def run_replay(request: ReplayRequest) -> None:
    """Replay, then write the record, the metrics and the report; exit 1 on a FAIL score."""
    planner = PlannerMode(request.planner.value)
    _check_record_to(request.record_to, planner)
    _check_outputs(request)
    settings = load_settings(request.config)
    configure_logging(settings.log)
    loaded = load_incident(request.incident)
    ledger_path = request.ledger or Path(f"{loaded.metadata.name}.ledger.jsonl")
    check_output(ledger_path, "--ledger")  # the default one too, before any replay work
    inputs = _inputs(request, loaded, settings, planner)
    report_path = None if request.output is None or is_stdout(request.output) else request.output
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
        text = _render(result, request.output_format, report_path)
        exchanges = engine.recorded_exchanges()
        exposition = engine.controller_metrics.exposition().decode("utf-8")
    if request.record_to is not None:
        _record(request.record_to, loaded, exchanges, result)
    if request.metrics is not None:
        write_output(request.metrics, exposition, flag="--metrics")
    if report_path is not None:
        write_output(report_path, text, flag="-o")
        ledger_to = "on stdout" if is_stdout(ledger_path) else str(ledger_path)
        stderr.print(f"report written to {report_path}; ledger {ledger_to}", highlight=False)
    elif request.output_format is not ReportFormat.TEXT:
        sys.stdout.write(text)
    _exit_on_fail(result)


def _check_outputs(request: ReplayRequest) -> None:
    """Refuse unusable output paths, and a second output on stdout, before any work."""
    report = Path(STDOUT) if request.output is None else request.output
    outputs = {"-o": report, "--ledger": request.ledger, "--metrics": request.metrics,
               "--record-to": request.record_to}  # fmt: skip
    on_stdout = [flag for flag, path in outputs.items() if path is not None and is_stdout(path)]
    if len(on_stdout) > 1:
        first, second = on_stdout[:2]
        how = " (no -o FILE given)" if request.output is None else ""
        reason = f"standard output already carries {_CARRIES[first]}{how}; write one to a file"
        raise InputError(second, STDOUT, reason)
    for flag, path in outputs.items():
        if path is not None:
            check_output(path, flag)


def _inputs(
    request: ReplayRequest, loaded: IncidentFile, settings: Settings, planner: PlannerMode
) -> ReplayInputs:
    books = load_runbooks(request.runbooks or default_runbooks())
    flag = request.approvals
    approvals = default_approvals_mode(loaded) if flag is None else ApprovalsMode(flag.value)
    return ReplayInputs(
        incident=loaded,
        source=str(request.incident),
        policy=load_policy(request.policy or default_policy()),
        runbooks=books,
        settings=settings,
        approvals=approvals,
        planner=planner,
        proposer_factory=_proposer_factory(planner, loaded, str(request.incident), settings, books),
    )


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
    text = dump_incident(incident.model_copy(update={"llm_exchanges": recorded}))
    write_output(path, text, flag="--record-to")


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
