"""``aiops capture``: build a replayable incident file from live backends for a past window.

Prometheus gives the metric series (one range query per signal for all workloads, split into
chunks for long windows), an optional OTLP dump gives the trace series, and an optional
cluster connection gives the inventory, namespace labels and events. Without a cluster the
workloads are discovered from Prometheus and the inventory holds only what metrics tell
(replica counts); the file says so in its description.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from controller.errors import BackendUnavailableError, InputError, PermanentError, TemporaryError
from controller.incident_loader import first_error
from controller.models.base import parse_duration
from controller.models.events import ClusterEvent
from controller.models.incident_file import (
    API_VERSION,
    KIND,
    GroundTruth,
    IncidentFile,
    IncidentMetadata,
    MetricSeries,
    TimeWindow,
    TraceSeries,
)
from controller.models.signals import CANONICAL_UNITS, Signal
from controller.models.workloads import (
    NamespaceInfo,
    ReplicaStatus,
    WorkloadInventory,
    WorkloadRef,
)
from controller.observers.traces import aggregate_dump
from controller.ports import LiveWorkload
from controller.settings import TracesSettings
from controller.yamlfile import YamlSpec, load_yaml_file, require_mapping

EVENT_LOOKBACK = timedelta(hours=1)
"""Events this long before the window are kept: a deploy shortly before onset matters."""

_RELATIVE = re.compile(r"^now(?:\s*-\s*(?P<ago>.+))?$")
TRUTH_YAML = YamlSpec(what="ground truth")
"""``--truth`` files: YAML 1.2 (so JSON too) read strictly by controller.yamlfile, at most 1 MiB."""


def load_ground_truth(path: Path) -> GroundTruth:
    """Read and validate a ``--truth`` file; raise InputError naming the file, place and reason."""
    document = load_yaml_file(path, TRUTH_YAML)
    data = require_mapping(document, str(path), TRUTH_YAML)
    try:
        return GroundTruth.model_validate(data)
    except ValidationError as exc:
        _, reason = first_error(exc)
        loc = [part for part in exc.errors()[0]["loc"] if not str(part).startswith("function-")]
        raise InputError(path, document.where(loc), reason) from exc


def parse_when(text: str, now: datetime, *, flag: str) -> datetime:
    """``2026-03-01T12:00:00Z``, ``now`` or ``now-2h`` as an aware UTC datetime."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        ago = match.group("ago")
        try:
            return now - (parse_duration(ago) if ago else timedelta(0))
        except ValueError as exc:
            raise InputError(flag, value, str(exc)) from exc
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(flag, value, "use RFC 3339 (2026-03-01T12:00:00Z), now or now-2h") from exc
    if parsed.tzinfo is None:
        raise InputError(flag, value, "the time needs a timezone, e.g. a trailing Z")
    return parsed.astimezone(UTC)


class MetricsBackend(Protocol):
    """What capture needs from the Prometheus observer."""

    def discover(
        self, namespaces: Sequence[str], start: datetime, end: datetime
    ) -> tuple[WorkloadRef, ...]:
        """Workloads that reported in the window."""
        ...

    def fetch_range(
        self, workloads: Sequence[WorkloadRef], start: datetime, end: datetime, step: timedelta
    ) -> dict[tuple[str, Signal], list[tuple[float, float]]]:
        """Every signal's samples over the window."""
        ...


class ClusterBackend(Protocol):
    """What capture needs from the Kubernetes observer (a synced cache)."""

    def workloads(self, namespace: str | None = None) -> tuple[WorkloadRef, ...]:
        """Deployments in the namespace."""
        ...

    def get_workload(self, ref: WorkloadRef) -> LiveWorkload | None:
        """A workload's inventory."""
        ...

    def get_namespace(self, name: str) -> NamespaceInfo | None:
        """A namespace and its labels."""
        ...

    def events(self, ref: WorkloadRef, until: datetime) -> tuple[ClusterEvent, ...]:
        """A workload's events."""
        ...


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    """What to capture."""

    namespace: str
    workloads: tuple[str, ...]
    start: datetime
    end: datetime
    step: timedelta
    name: str
    title: str = ""
    otlp_dump: Path | None = None
    truth: GroundTruth | None = None


Progress = Callable[[str], None]
"""Called once per finished step, with what was done (drives the CLI's progress bar)."""


def capture_steps(request: CaptureRequest, cluster: bool) -> int:
    """How many progress steps a capture takes (for the progress bar's total)."""
    return 3 + int(request.otlp_dump is not None) + int(cluster)


def _backend(call: Callable[[], object], what: str) -> object:
    try:
        return call()
    except (TemporaryError, PermanentError) as exc:
        raise BackendUnavailableError("prometheus", f"{what}: {exc}") from exc


def _workloads(
    request: CaptureRequest, metrics: MetricsBackend, cluster: ClusterBackend | None
) -> tuple[WorkloadRef, ...]:
    if request.workloads:
        refs = tuple(WorkloadRef(namespace=request.namespace, name=n) for n in request.workloads)
    elif cluster is not None:
        refs = cluster.workloads(request.namespace)
    else:
        found = _backend(
            lambda: metrics.discover([request.namespace], request.start, request.end),
            "discovering workloads",
        )
        refs = found if isinstance(found, tuple) else ()
    if not refs:
        raise InputError(
            "--namespace",
            request.namespace,
            "no workloads found in the window; name them with --workload",
        )
    return refs


def _series(
    refs: Sequence[WorkloadRef],
    samples: dict[tuple[str, Signal], list[tuple[float, float]]],
    request: CaptureRequest,
) -> tuple[MetricSeries, ...]:
    start, end = request.start.timestamp(), request.end.timestamp()
    result: list[MetricSeries] = []
    for ref in refs:
        for signal in Signal:
            points = [(t, v) for t, v in samples.get((ref.key, signal), []) if start <= t <= end]
            if not points:
                continue
            result.append(
                MetricSeries(
                    workload=ref,
                    signal=signal,
                    unit=CANONICAL_UNITS[signal],
                    timestamps=tuple(t for t, _ in points),
                    values=tuple(v for _, v in points),
                )
            )
    return tuple(result)


def _metrics_inventory(
    ref: WorkloadRef, samples: dict[tuple[str, Signal], list[tuple[float, float]]]
) -> WorkloadInventory:
    """What metrics alone say about a workload: its replica count at the end of the window."""
    points = samples.get((ref.key, Signal.REPLICAS_AVAILABLE), [])
    count = max(0, round(points[-1][1])) if points else 0
    replicas = ReplicaStatus(desired=count, ready=count, available=count, updated=count)
    return WorkloadInventory(ref=ref, replicas=replicas)


def _inventory(
    refs: Sequence[WorkloadRef],
    samples: dict[tuple[str, Signal], list[tuple[float, float]]],
    cluster: ClusterBackend | None,
) -> tuple[WorkloadInventory, ...]:
    result = []
    for ref in refs:
        live = None if cluster is None else cluster.get_workload(ref)
        result.append(live.inventory if live else _metrics_inventory(ref, samples))
    return tuple(result)


def _events(
    refs: Sequence[WorkloadRef], cluster: ClusterBackend | None, request: CaptureRequest
) -> tuple[ClusterEvent, ...]:
    if cluster is None:
        return ()
    since = request.start - EVENT_LOOKBACK
    events = [e for ref in refs for e in cluster.events(ref, request.end) if e.time >= since]
    return tuple(sorted(events, key=lambda e: (e.time, e.workload.key)))


def _traces(request: CaptureRequest, settings: TracesSettings) -> tuple[TraceSeries, ...]:
    if request.otlp_dump is None:
        return ()
    return aggregate_dump(
        request.otlp_dump, settings, request.start, request.end, step=request.step
    )


def _description(cluster: bool, traces: bool) -> str:
    parts = ["Captured by aiops capture from Prometheus"]
    parts.append(
        "with cluster inventory and events"
        if cluster
        else "without a cluster connection: inventory holds replica counts only, "
        "no revisions, resources or events"
    )
    parts.append("with traces from an OTLP dump" if traces else "without traces")
    return "; ".join(parts) + "."


def capture(
    request: CaptureRequest,
    *,
    metrics: MetricsBackend,
    cluster: ClusterBackend | None,
    traces: TracesSettings,
    progress: Progress = lambda _: None,
) -> IncidentFile:
    """Query every backend for the window and assemble a validated incident file."""
    if request.end <= request.start:
        raise InputError("--to", request.end.isoformat(), "must be after --from")
    refs = _workloads(request, metrics, cluster)
    progress(f"{len(refs)} workloads in {request.namespace}")
    found = _backend(
        lambda: metrics.fetch_range(refs, request.start, request.end, request.step),
        "fetching series",
    )
    samples = found if isinstance(found, dict) else {}
    progress(f"{len(samples)} series from Prometheus")
    inventory = _inventory(refs, samples, cluster)
    events = _events(refs, cluster, request)
    namespace = (cluster.get_namespace(request.namespace) if cluster else None) or NamespaceInfo(
        name=request.namespace
    )
    if cluster is not None:
        progress(f"inventory and {len(events)} events from the cluster")
    trace_series = _traces(request, traces)
    if request.otlp_dump is not None:
        progress(f"{len(trace_series)} trace series from {request.otlp_dump}")
    incident = IncidentFile(
        apiVersion=API_VERSION,
        kind=KIND,
        metadata=IncidentMetadata(
            name=request.name,
            title=request.title or f"Capture of {request.namespace}",
            description=_description(cluster is not None, bool(trace_series)),
            source="capture",
            created=datetime.now(UTC),
        ),
        window=TimeWindow(start=request.start, end=request.end, step=request.step),
        namespaces=(namespace,),
        workloads=inventory,
        series=_series(refs, samples, request),
        traces=trace_series,
        events=events,
        ground_truth=request.truth,
    )
    progress("incident file assembled")
    return incident
