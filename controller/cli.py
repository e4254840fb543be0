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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from controller import __version__
from controller.capture import CaptureRequest, MetricsBackend, capture_steps, parse_when
from controller.capture import capture as capture_incident
from controller.errors import BackendUnavailableError, InputError, LedgerIntegrityError
from controller.guardrails.loader import load_policy, policy_json_schema
from controller.incident_file import (
    dump_incident,
    first_error,
    incident_json_schema,
    load_incident,
)
from controller.kube import KubeObserver, WatchCache, build_api_client
from controller.ledger import LedgerWriter, verify_ledger
from controller.logging import configure_logging
from controller.models.base import parse_duration
from controller.models.incident_file import GroundTruth, IncidentFile
from controller.observers.prometheus import build_prometheus_metrics
from controller.planner.runbooks import load_runbooks, runbook_json_schema
from controller.replay.engine import ApprovalsMode, ReplayInputs, default_approvals_mode, run_replay
from controller.replay.result import ReplayResult
from controller.report import print_text, render
from controller.resources import default_policy, default_runbooks
from controller.settings import Settings, load_settings

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
    SETTINGS = "settings"


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
    """Turn user mistakes into one-line errors (exit 2) and dead backends into exit 3."""
    try:
        run()
    except InputError as exc:
        _fail(exc.one_line())
    except BackendUnavailableError as exc:
        _fail(f"backend unavailable: {exc}", code=3)


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


def _load_truth(path: Path | None) -> GroundTruth | None:
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InputError(path, "", f"invalid YAML/JSON: {exc}") from exc
    try:
        return GroundTruth.model_validate(data)
    except ValidationError as exc:
        location, reason = first_error(exc)
        raise InputError(path, location, reason) from exc


@contextmanager
def _cluster(settings: Settings, use: bool, timeout: float) -> Iterator[KubeObserver | None]:
    """A synced watch cache for the capture, or None without a kubeconfig."""
    if not use:
        yield None
        return
    api = build_api_client(settings.kube)
    cache = WatchCache(api, settings.kube)
    cache.start()
    try:
        if not cache.wait_synced(timeout):
            raise BackendUnavailableError(
                "kubernetes", f"cache not synced within {timeout:g}s (check --kubeconfig/--context)"
            )
        yield KubeObserver(cache, api)
    finally:
        cache.stop()
        api.close()  # type: ignore[no-untyped-call]  # the client library is untyped


@app.command()
def capture(
    prometheus: Annotated[str, typer.Option(help="Prometheus base URL.")],
    namespace: Annotated[str, typer.Option(help="Namespace of the incident.")],
    since: Annotated[str, typer.Option("--from", help="Window start: RFC 3339, now, now-2h.")],
    until: Annotated[str, typer.Option("--to", help="Window end.")] = "now",
    output: Annotated[Path, typer.Option("--output", "-o", help="Incident file to write.")] = Path(
        "incident.json"
    ),
    workload: Annotated[
        list[str] | None, typer.Option(help="Workload (repeatable); default: all found.")
    ] = None,
    otlp_dump: Annotated[
        Path | None, typer.Option(help="OTLP JSON dump (Collector file exporter) for traces.")
    ] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Read inventory and events from this cluster.")
    ] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    step: Annotated[str, typer.Option(help="Sample interval, e.g. 30s.")] = "30s",
    name: Annotated[str | None, typer.Option(help="Incident name (a slug).")] = None,
    title: Annotated[str, typer.Option(help="One-line title.")] = "",
    truth: Annotated[
        Path | None, typer.Option(help="Ground truth (YAML/JSON) so replays can be scored.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(envvar="AIOPS_CONFIG", help="Settings YAML file.")
    ] = None,
) -> None:
    """Capture an incident file from Prometheus (and optionally a cluster and traces)."""

    def run() -> None:
        settings = _capture_settings(
            load_settings(config), prometheus, kubeconfig, context, namespace
        )
        configure_logging(settings.log)
        now = datetime.now(UTC)
        start = parse_when(since, now, flag="--from")
        end = parse_when(until, now, flag="--to")
        request = CaptureRequest(
            namespace=namespace,
            workloads=tuple(workload or ()),
            start=start,
            end=end,
            step=_duration(step, "--step"),
            name=name or _default_name(namespace, start),
            title=title,
            otlp_dump=otlp_dump,
            truth=_load_truth(truth),
        )
        metrics = build_prometheus_metrics(
            settings.prometheus, stale_after=settings.detection.stale_after
        )
        try:
            incident = _run_capture(request, settings, metrics, kubeconfig is not None)
        finally:
            metrics.close()
        _write_atomically(output, dump_incident(incident))
        stderr.print(
            f"wrote {output}: {len(incident.workloads)} workloads, "
            f"{len(incident.series)} series, {len(incident.traces)} trace series, "
            f"{len(incident.events)} events",
            highlight=False,
        )

    _guard(run)


def _run_capture(
    request: CaptureRequest, settings: Settings, metrics: MetricsBackend, use_cluster: bool
) -> IncidentFile:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("capturing", total=capture_steps(request, use_cluster))

        def advance(what: str) -> None:
            bar.update(task, advance=1, description=what)

        with _cluster(settings, use_cluster, timeout=60.0) as cluster:
            try:
                return capture_incident(
                    request,
                    metrics=metrics,
                    cluster=cluster,
                    traces=settings.traces,
                    progress=advance,
                )
            except ValidationError as exc:
                location, reason = first_error(exc)
                raise InputError("captured incident", location, reason) from exc


def _capture_settings(
    settings: Settings, url: str, kubeconfig: Path | None, context: str | None, namespace: str
) -> Settings:
    prometheus = settings.prometheus.model_copy(update={"url": url})
    kube = settings.kube.model_copy(
        update={
            "kubeconfig": None if kubeconfig is None else str(kubeconfig),
            "context": context,
            "namespaces": (namespace,),
        }
    )
    return settings.model_copy(update={"prometheus": prometheus, "kube": kube})


def _duration(text: str, flag: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise InputError(flag, text, str(exc)) from exc
    if value.total_seconds() < 1:
        raise InputError(flag, text, "must be at least 1s")
    return value


def _default_name(namespace: str, start: datetime) -> str:
    return f"{namespace}-{start:%Y%m%d-%H%M}"


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
        SchemaName.SETTINGS: Settings.model_json_schema,
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
