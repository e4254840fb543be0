"""The ``aiops`` command line. Thin: parse flags, load inputs, call the engine, render.

A user mistake (missing file, invalid JSON, schema violation, bad policy or runbook) prints
one line naming the file, the location and the reason, and exits with status 2: no traceback
and no partial output file.

Start-up stays light: this module and the flag modules import only Typer, Rich's console and
the standard library; what a command needs (loaders, models, the engine, the trace receiver,
LangGraph, the SDKs) is imported inside the command when it runs, so ``aiops version`` and
``aiops --help`` pay for none of it (tests/cli/test_startup_imports.py keeps it so).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from controller import __version__
from controller.cli.approve import approve as approve_command
from controller.cli.approve import reject as reject_command
from controller.cli.capture import capture as capture_command
from controller.cli.common import fail, guard, stderr
from controller.cli.demo import demo as demo_command
from controller.cli.eval import eval_command
from controller.cli.freeze import freeze as freeze_command
from controller.cli.freeze import unfreeze as unfreeze_command
from controller.cli.replay import replay as replay_command
from controller.cli.run import run as run_command
from controller.errors import LedgerIntegrityError, RunbookError
from controller.telemetry import configure_tracing, shutdown_tracing

app = typer.Typer(
    name="aiops",
    help="Self-healing agent for Kubernetes: replay and capture incidents; check policies, "
    "runbooks and ledgers.",
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


class SchemaName(StrEnum):
    """Documents ``aiops schema`` can print."""

    INCIDENT = "incident"
    POLICY = "policy"
    RUNBOOK = "runbook"
    REPLAY_RESULT = "replay-result"
    SETTINGS = "settings"
    LEDGER = "ledger"


app.command("replay")(replay_command)
app.command("capture")(capture_command)
app.command("freeze")(freeze_command)
app.command("unfreeze")(unfreeze_command)
app.command("approve")(approve_command)
app.command("reject")(reject_command)
app.command("run")(run_command)
app.command("eval")(eval_command)
app.command("demo")(demo_command)


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="Which document's JSON Schema to print.")],
) -> None:
    """Print a JSON Schema (incident files, policies, runbook front-matter, replay results)."""
    from controller.guardrails.loader import policy_json_schema
    from controller.incident_loader import incident_json_schema
    from controller.ledger import ledger_json_schema
    from controller.planner.runbook.catalog import runbook_json_schema
    from controller.replay.result import ReplayResult
    from controller.settings import Settings

    documents: dict[SchemaName, Callable[[], dict[str, Any]]] = {
        SchemaName.INCIDENT: incident_json_schema,
        SchemaName.POLICY: policy_json_schema,
        SchemaName.RUNBOOK: runbook_json_schema,
        SchemaName.REPLAY_RESULT: ReplayResult.model_json_schema,
        SchemaName.SETTINGS: Settings.model_json_schema,
        SchemaName.LEDGER: ledger_json_schema,
    }
    sys.stdout.write(json.dumps(documents[name](), indent=2, sort_keys=True) + "\n")


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="Policy YAML file.")]) -> None:
    """Validate a policy file and explain what is wrong with it."""
    from controller.guardrails.loader import load_policy

    def run() -> None:
        loaded = load_policy(file)
        for warning in loaded.warnings:
            stderr.print(f"[yellow]warning:[/] {file}: {warning}", highlight=False)
        typer.echo(f"{file}: ok (policy {loaded.policy.metadata.name}, hash {loaded.hash[:12]})")

    guard(run)


@runbooks_app.command("check")
def runbooks_check(
    folder: Annotated[Path | None, typer.Argument(help="Runbook folder; default: bundled.")] = None,
) -> None:
    """Validate every runbook in a folder; a folder without any runbook is an error (exit 2)."""
    from controller.bundled import default_runbooks
    from controller.planner.runbook.catalog import load_runbooks

    def run() -> None:
        directory = folder or default_runbooks()
        loaded = load_runbooks(directory)
        if not loaded:
            raise RunbookError(
                directory, "", "no runbooks found (expected *.md files with YAML front-matter)"
            )
        for runbook in loaded:
            typer.echo(f"{runbook.id}: ok ({runbook.source})")

    guard(run)


@ledger_app.command("verify")
def ledger_verify(
    file: Annotated[Path, typer.Argument(help="Ledger (JSON Lines) file.")],
    allow_unsealed: Annotated[
        bool, typer.Option(help="Accept a ledger that is still being written (no seal).")
    ] = False,
) -> None:
    """Check a ledger's hash chain; exit 1 on tampering or truncation.

    With AIOPS_LEDGER_KEY set, the chain is checked as HMACs under that key.
    """
    from controller.ledger import ledger_key, verify_ledger

    def run() -> None:
        key = ledger_key(os.environ)
        try:
            summary = verify_ledger(file, require_seal=not allow_unsealed, key=key)
        except LedgerIntegrityError as exc:
            fail(f"ledger broken: {exc}", code=1)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
        seal = "sealed" if summary.sealed else "not sealed"
        typer.echo(f"{file}: ok, {summary.entries} entries, {seal}, head {summary.head[:16]}")
        typer.echo(f"  {counts}")

    guard(run)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"aiops-controller {__version__}")


def main() -> None:
    """Console-script entry point: the composition root of every command.

    Tracing is configured here, once per process, and only exports when an OTLP endpoint is
    set (``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``); queued spans are flushed on exit.
    """
    tracing = configure_tracing()
    try:
        app()
    finally:
        shutdown_tracing(tracing)
