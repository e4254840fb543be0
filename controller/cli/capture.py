"""``aiops capture``: its flags, and nothing heavier than them.

The work and its imports (the capture engine, the observers, the trace receiver's parsers)
live in ``controller.cli.capture_run``, imported when the command runs, so that ``aiops
version`` and ``aiops --help`` do not load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller.cli.common import guard
from controller.cli.flags import CaptureFlags


def capture(
    prometheus: Annotated[str, typer.Option(help="Prometheus base URL.")],
    namespace: Annotated[str, typer.Option(help="Namespace of the incident.")],
    since: Annotated[str, typer.Option("--from", help="Window start: RFC 3339, now, now-2h.")],
    until: Annotated[str, typer.Option("--to", help="Window end.")] = "now",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Incident file to write ('-': stdout).")
    ] = Path("incident.json"),
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
    from controller.cli.capture_run import run_capture  # the heavy part: only when it runs

    flags = CaptureFlags(
        prometheus=prometheus,
        namespace=namespace,
        since=since,
        until=until,
        output=output,
        workloads=tuple(workload or ()),
        otlp_dump=otlp_dump,
        kubeconfig=kubeconfig,
        context=context,
        step=step,
        name=name,
        title=title,
        truth=truth,
        config=config,
    )
    guard(lambda: run_capture(flags))
