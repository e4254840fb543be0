"""``aiops capture``: a past window of live backends as a replayable incident file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from controller.capture_engine import (
    CaptureRequest,
    MetricsBackend,
    capture_steps,
    load_ground_truth,
    parse_when,
)
from controller.capture_engine import capture as capture_incident
from controller.cli.common import guard, stderr, write_atomically
from controller.errors import BackendUnavailableError, InputError
from controller.incident_loader import dump_incident, first_error
from controller.logging import configure_logging
from controller.models.base import parse_duration
from controller.models.incident_file import GroundTruth, IncidentFile, IncidentMetadata
from controller.settings import Settings, load_settings

if TYPE_CHECKING:
    from controller.kube import KubeObserver


def _load_truth(path: Path | None) -> GroundTruth | None:
    return None if path is None else load_ground_truth(path)


@contextmanager
def _cluster(settings: Settings, use: bool, timeout: float) -> Iterator[KubeObserver | None]:
    """A synced watch cache for the capture, or None without a kubeconfig."""
    if not use:
        yield None
        return
    from controller.kube import KubeObserver, WatchCache, build_api_client  # heavy: lazily

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
        api.close()


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
            name=_incident_name(name or _default_name(namespace, start)),
            title=title,
            otlp_dump=otlp_dump,
            truth=_load_truth(truth),
        )
        from controller.observers.prometheus import build_prometheus_metrics  # heavy: lazily

        metrics = build_prometheus_metrics(
            settings.prometheus, stale_after=settings.detection.stale_after
        )
        try:
            incident = _run_capture(request, settings, metrics, kubeconfig is not None)
        finally:
            metrics.close()
        write_atomically(output, dump_incident(incident))
        stderr.print(
            f"wrote {output}: {len(incident.workloads)} workloads, "
            f"{len(incident.series)} series, {len(incident.traces)} trace series, "
            f"{len(incident.events)} events",
            highlight=False,
        )

    guard(run)


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


def _incident_name(name: str) -> str:
    """Check ``--name`` before any backend is asked (the file format wants a slug)."""
    try:
        IncidentMetadata(name=name)
    except ValidationError as exc:
        raise InputError("--name", name, "use lower-case letters, digits, '-' and '.'") from exc
    return name


def _default_name(namespace: str, start: datetime) -> str:
    return f"{namespace}-{start:%Y%m%d-%H%M}"
