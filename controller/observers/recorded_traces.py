"""A trace source over a recorded incident: the file's per-service and per-edge series served
as the snapshots the OTLP receiver would have produced at each moment (no look-ahead)."""

from __future__ import annotations

import bisect
from datetime import datetime

from controller.models.base import epoch
from controller.models.incident_file import IncidentFile, TraceSeries
from controller.models.modes import SourceHealth
from controller.models.traces import EdgeStats, ServiceStats, TraceSnapshot, TraceStats


def _stats(series: TraceSeries, index: int, window: float) -> TraceStats | None:
    rate = series.rate[index]
    if rate is None:
        return None
    spans = round(rate * window)
    ratio = series.error_ratio[index]
    return TraceStats(
        spans=spans,
        errors=0 if ratio is None else min(spans, round(spans * ratio)),
        rate=rate,
        error_ratio=ratio,
        latency_p50_seconds=series.latency_p50_seconds[index],
        latency_p99_seconds=series.latency_p99_seconds[index],
    )


class RecordedTraces:
    """TraceSource and HealthReporter over an incident file's trace series."""

    def __init__(self, incident: IncidentFile) -> None:
        self._series = incident.traces
        self._window = incident.window.step.total_seconds()
        self._stale_after = 2 * self._window

    @property
    def recorded(self) -> bool:
        """Whether the file carries any trace data (a team without tracing has none)."""
        return bool(self._series)

    def _latest(self, series: TraceSeries, at: float) -> int | None:
        index = bisect.bisect_right(series.timestamps, at) - 1
        if index < 0 or at - series.timestamps[index] > self._stale_after:
            return None
        return index

    def snapshot(self, now: datetime) -> TraceSnapshot:
        """The newest recorded statistics at ``now`` for every service and edge."""
        at = epoch(now)
        services: list[ServiceStats] = []
        edges: list[EdgeStats] = []
        newest: float | None = None
        for series in self._series:
            index = self._latest(series, at)
            stats = None if index is None else _stats(series, index, self._window)
            if index is None or stats is None:
                continue
            newest = max(newest or 0.0, series.timestamps[index])
            if series.caller is None:
                services.append(ServiceStats(service=series.callee, stats=stats))
            else:
                edges.append(EdgeStats(caller=series.caller, callee=series.callee, stats=stats))
        return TraceSnapshot(
            at=now,
            window_seconds=self._window,
            services=tuple(services),
            edges=tuple(edges),
            last_received=None if newest is None else datetime.fromtimestamp(newest, now.tzinfo),
        )

    def _newest(self, at: float) -> float | None:
        """Time of the newest fresh recorded sample at ``at``, over every series."""
        stamps = [
            series.timestamps[index]
            for series in self._series
            if (index := self._latest(series, at)) is not None and series.rate[index] is not None
        ]
        return max(stamps, default=None)

    def health(self, now: datetime) -> SourceHealth:
        """OK while recorded spans are no older than two steps (no snapshot is built)."""
        newest = self._newest(epoch(now))
        last = None if newest is None else datetime.fromtimestamp(newest, now.tzinfo)
        detail = "" if last is not None else "no recorded trace data at this time"
        return SourceHealth(source="traces", ok=last is not None, last_success=last, detail=detail)
