"""What ``aiops capture`` does once its flags are parsed (``controller.cli.capture``): a past
window of live backends as a replayable incident file.

``-o`` is checked before any backend is asked (a directory or a missing folder is one line,
exit 2) and written at the end by ``write_output`` (all or nothing for a file, through for a
device, a FIFO or ``-``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

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
from controller.cli.common import check_output, stderr, write_output
from controller.cli.flags import CaptureFlags
from controller.errors import BackendUnavailableError, InputError
from controller.incident_loader import dump_incident, first_error
from controller.logging import configure_logging
from controller.models.base import parse_duration
from controller.models.incident_file import GroundTruth, IncidentFile, IncidentMetadata
from controller.outputs import is_stdout
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


def run_capture(flags: CaptureFlags) -> None:
    """Check ``-o``, ask the backends, then write the incident file."""
    check_output(flags.output, "-o")
    settings = _capture_settings(load_settings(flags.config), flags)
    configure_logging(settings.log)
    request = _request(flags)
    from controller.observers.prometheus import build_prometheus_metrics  # heavy: lazily

    metrics = build_prometheus_metrics(
        settings.prometheus, stale_after=settings.detection.stale_after
    )
    try:
        incident = _run_capture(request, settings, metrics, flags.kubeconfig is not None)
    finally:
        metrics.close()
    write_output(flags.output, dump_incident(incident), flag="-o")
    where = "standard output" if is_stdout(flags.output) else flags.output
    stderr.print(
        f"wrote {where}: {len(incident.workloads)} workloads, "
        f"{len(incident.series)} series, {len(incident.traces)} trace series, "
        f"{len(incident.events)} events",
        highlight=False,
    )


def _request(flags: CaptureFlags) -> CaptureRequest:
    """The window and the names the flags ask for, checked before any backend is asked."""
    now = datetime.now(UTC)
    start = parse_when(flags.since, now, flag="--from")
    end = parse_when(flags.until, now, flag="--to")
    return CaptureRequest(
        namespace=flags.namespace,
        workloads=flags.workloads,
        start=start,
        end=end,
        step=_duration(flags.step, "--step"),
        name=_incident_name(flags.name or _default_name(flags.namespace, start)),
        title=flags.title,
        otlp_dump=flags.otlp_dump,
        truth=_load_truth(flags.truth),
    )


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


def _capture_settings(settings: Settings, flags: CaptureFlags) -> Settings:
    prometheus = settings.prometheus.model_copy(update={"url": flags.prometheus})
    kubeconfig = flags.kubeconfig
    kube = settings.kube.model_copy(
        update={
            "kubeconfig": None if kubeconfig is None else str(kubeconfig),
            "context": flags.context,
            "namespaces": (flags.namespace,),
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
