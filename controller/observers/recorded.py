"""An observer over a recorded incident: serves the file's series as if queried live.

Each window it returns is cut at the simulated ``now`` (SignalWindow cannot see later
samples), so a replay can never look ahead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from controller.models.base import epoch
from controller.models.incident_file import IncidentFile
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.models.workloads import WorkloadRef


class RecordedMetrics:
    """MetricsSource over the series of an incident file (prefix sums built once)."""

    def __init__(self, incident: IncidentFile) -> None:
        self._series: dict[str, dict[Signal, SeriesData]] = {}
        for series in incident.series:
            by_signal = self._series.setdefault(series.workload.key, {})
            by_signal[series.signal] = series.to_series_data()

    def observe(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """Windows of every recorded signal of each workload, as seen at ``now``."""
        at = epoch(now)
        return {ref.key: self._windows(ref, at) for ref in workloads}

    def read(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """The same as ``observe``: a recording has no watched set, cursor or cache to keep."""
        return self.observe(workloads, now)

    def _windows(self, ref: WorkloadRef, at: float) -> dict[Signal, SignalWindow]:
        windows: dict[Signal, SignalWindow] = {}
        for signal, data in self._series.get(ref.key, {}).items():
            window = SignalWindow(ref, signal, f"recorded:{signal}", at, data)
            if window.latest() is None:
                window = SignalWindow(
                    ref,
                    signal,
                    f"recorded:{signal}",
                    at,
                    data,
                    Health.NO_DATA,
                    "no sample recorded up to this time",
                )
            windows[signal] = window
        return windows
