"""The ``aiops`` command line. Thin: parse flags, load inputs, call the engine, render.

A user mistake (missing file, invalid JSON, schema violation, bad policy or runbook) prints
one line naming the file, the location and the reason, and exits with status 2: no traceback
and no partial output file.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from controller import __version__
from controller.errors import InputError, LedgerIntegrityError
from controller.guardrails.loader import load_policy, policy_json_schema
from controller.incident_file import incident_json_schema, load_incident
from controller.ledger import LedgerWriter, verify_ledger
from controller.logging import configure_logging
from controller.planner.runbooks import load_runbooks, runbook_json_schema
from controller.replay.engine import ApprovalsMode, ReplayInputs, default_approvals_mode, run_replay
from controller.replay.result import ReplayResult
from controller.report import print_text, render
from controller.resources import default_policy, default_runbooks
from controller.settings import load_settings

app = typer.Typer(
    name="aiops",
    help="Self-healing agent for Kubernetes: replay incidents, check policies and ledgers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
policy_app = typer.Typer(help="Validate guardrail policies.", no_args_is_help=True)
ledger_app = typer.Typer(help="Inspect decision ledgers.", no_args_is_help=True)
runbooks_app = typer.Typer(help="Validate runbooks.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(ledger_app, name="ledger")
app.add_typer(runbooks_app, name="runbooks")

stderr = Console(stderr=True)


class ReportFormat(StrEnum):
    """Output formats of ``aiops replay``."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


class SchemaName(StrEnum):
    """Documents ``aiops schema`` can print."""

    INCIDENT = "incident"
    POLICY = "policy"
    RUNBOOK = "runbook"
    REPLAY_RESULT = "replay-result"


def _fail(message: str, code: int = 2) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _write_atomically(path: Path, text: str) -> None:
    """Write all or nothing: a temporary file in the same folder, then a rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(path, "", f"cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a report is a normal file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _guard(run: Callable[[], None]) -> None:
    """Turn user mistakes into one-line errors with exit status 2."""
    try:
        run()
    except InputError as exc:
        _fail(exc.one_line())


@app.command()
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
) -> None:
    """Replay an incident through detection, planning, guardrails and approvals."""

    def run() -> None:
        settings = load_settings(config)
        configure_logging(settings.log)
        loaded = load_incident(incident)
        inputs = ReplayInputs(
            incident=loaded,
            source=str(incident),
            policy=load_policy(policy or default_policy()),
            runbooks=load_runbooks(runbooks or default_runbooks()),
            settings=settings,
            approvals=approvals or default_approvals_mode(loaded),
        )
        ledger_path = ledger or Path(f"{loaded.metadata.name}.ledger.jsonl")
        with LedgerWriter(ledger_path) as writer:
            result = run_replay(inputs, writer)
            result = result.model_copy(
                update={"run": result.run.model_copy(update={"ledger_path": str(ledger_path)})}
            )
            text = _render(result, output_format, output)
        if output is not None:
            _write_atomically(output, text)
            stderr.print(f"report written to {output}; ledger {ledger_path}", highlight=False)
        elif output_format is not ReportFormat.TEXT:
            sys.stdout.write(text)

    _guard(run)


def _render(result: ReplayResult, fmt: ReportFormat, output: Path | None) -> str:
    if fmt is ReportFormat.TEXT and output is None:
        print_text(result, Console())
        return ""
    return render(result, fmt.value)


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="Which document's JSON Schema to print.")],
) -> None:
    """Print a JSON Schema (incident files, policies, runbook front-matter, replay results)."""
    documents: dict[SchemaName, Callable[[], dict[str, Any]]] = {
        SchemaName.INCIDENT: incident_json_schema,
        SchemaName.POLICY: policy_json_schema,
        SchemaName.RUNBOOK: runbook_json_schema,
        SchemaName.REPLAY_RESULT: ReplayResult.model_json_schema,
    }
    sys.stdout.write(json.dumps(documents[name](), indent=2, sort_keys=True) + "\n")


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="Policy YAML file.")]) -> None:
    """Validate a policy file and explain what is wrong with it."""

    def run() -> None:
        loaded = load_policy(file)
        for warning in loaded.warnings:
            stderr.print(f"[yellow]warning:[/] {file}: {warning}", highlight=False)
        typer.echo(f"{file}: ok (policy {loaded.policy.metadata.name}, hash {loaded.hash[:12]})")

    _guard(run)


@runbooks_app.command("check")
def runbooks_check(
    folder: Annotated[Path | None, typer.Argument(help="Runbook folder; default: bundled.")] = None,
) -> None:
    """Validate every runbook in a folder."""

    def run() -> None:
        loaded = load_runbooks(folder or default_runbooks())
        for runbook in loaded:
            typer.echo(f"{runbook.id}: ok ({runbook.source})")

    _guard(run)


@ledger_app.command("verify")
def ledger_verify(
    file: Annotated[Path, typer.Argument(help="Ledger (JSON Lines) file.")],
    allow_unsealed: Annotated[
        bool, typer.Option(help="Accept a ledger that is still being written (no seal).")
    ] = False,
) -> None:
    """Check a ledger's hash chain; exit 1 on tampering or truncation."""

    def run() -> None:
        try:
            summary = verify_ledger(file, require_seal=not allow_unsealed)
        except LedgerIntegrityError as exc:
            _fail(f"ledger broken: {exc}", code=1)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
        seal = "sealed" if summary.sealed else "not sealed"
        typer.echo(f"{file}: ok, {summary.entries} entries, {seal}, head {summary.head[:16]}")
        typer.echo(f"  {counts}")

    _guard(run)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"aiops-controller {__version__}")


def main() -> None:
    """Console-script entry point."""
    app()
