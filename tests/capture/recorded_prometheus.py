"""Serve a bundled example incident from a real Prometheus: its series become gauges named
``aiops_signal{signal, namespace, workload}``, backfilled with promtool, and the observer's
per-signal query overrides select them (the "full override from configuration" path)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from controller.models.incident_file import IncidentFile
from controller.models.signals import Signal
from tests.adapters.prometheus.servers import (
    REQUIRE,
    PrometheusServer,
    free_port,
    openmetrics_blocks,
    require_binary,
)

__all__ = ["REQUIRE", "require_binary"]

METRIC = "aiops_signal"


def shifted(incident: IncidentFile, delta: timedelta) -> IncidentFile:
    """The same incident ``delta`` later (Prometheus keeps 30 days; the examples are older)."""
    seconds = delta.total_seconds()
    data = incident.model_dump(mode="python")
    data["window"]["start"] += delta
    data["window"]["end"] += delta
    for series in (*data["series"], *data["traces"]):
        series["timestamps"] = tuple(t + seconds for t in series["timestamps"])
    for event in data["events"]:
        event["time"] += delta
    for item in (*data["recorded"]["actions"], *data["recorded"]["approvals"]):
        item["time"] += delta
    if data["ground_truth"] and data["ground_truth"]["onset"]:
        data["ground_truth"]["onset"] += delta
    return IncidentFile.model_validate(data)


def openmetrics(incident: IncidentFile) -> str:
    """The incident's series as one OpenMetrics gauge family (timestamps in seconds)."""
    lines = [f"# TYPE {METRIC} gauge"]
    for series in incident.series:
        data = series.to_series_data()
        labels = (
            f'signal="{series.signal.value}",namespace="{series.workload.namespace}",'
            f'workload="{series.workload.name}"'
        )
        lines += [
            f"{METRIC}{{{labels}}} {v!r} {t:.0f}"
            for t, v in zip(data.timestamps, data.values, strict=True)
        ]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def override_queries() -> dict[str, str]:
    """PromQL overrides selecting the backfilled gauges, one per signal."""
    return {
        signal.value: (
            f'{METRIC}{{signal="{signal.value}",namespace=~"${{namespace_regex}}",'
            f'workload=~"${{workload_regex}}"}}'
        )
        for signal in Signal
    }


def backfill(incident: IncidentFile, root: Path) -> Path:
    """TSDB blocks holding the incident's series."""
    return openmetrics_blocks(require_binary("promtool"), openmetrics(incident), root, "data")


def recent(incident: IncidentFile, now: datetime) -> IncidentFile:
    """Shift so the incident ends ten minutes before ``now``, on the incident's own step."""
    step = incident.window.step.total_seconds()
    end = (now.timestamp() - 600) // step * step
    return shifted(incident, timedelta(seconds=end - incident.window.end.timestamp()))


@contextmanager
def serving(incident: IncidentFile, root: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus on 127.0.0.1 holding ``incident``'s series (see ``require_binary``)."""
    prometheus = require_binary("prometheus")
    require_binary("promtool")
    server = PrometheusServer(
        prometheus,
        backfill(incident, root),
        free_port(),
        root / "prometheus.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
