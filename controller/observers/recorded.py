"""An observer over a recorded incident: serves the file's series as if queried live.

Each window it returns is cut at the simulated ``now`` (SignalWindow cannot see later
samples), so a replay can never look ahead.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from controller.models.base import epoch
from controller.models.incident_file import IncidentFile
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.models.workloads import WorkloadRef

NO_SAMPLE_YET = "no sample recorded up to this time"


@dataclass(slots=True)
class _Cursor:
    """One recorded series and how far into it the last window reached.

    Ticks only move forward, so finding the samples visible at the next tick costs the
    samples that arrived since (usually one), not a binary search of the whole day.
    """

    signal: Signal
    source: str
    data: SeriesData
    at: float = float("-inf")
    visible: int = 0

    def visible_at(self, at: float) -> int:
        """``bisect_right(timestamps, at)``, walked forward from the last answer."""
        timestamps = self.data.timestamps
        if at < self.at:
            end = bisect.bisect_right(timestamps, at)
        else:
            end, count = self.visible, len(timestamps)
            while end < count and timestamps[end] <= at:
                end += 1
        self.at, self.visible = at, end
        return end


class RecordedMetrics:
    """MetricsSource over the series of an incident file (prefix sums built once)."""

    def __init__(self, incident: IncidentFile) -> None:
        self._series: dict[str, list[_Cursor]] = {}
        for series in incident.series:
            cursor = _Cursor(series.signal, f"recorded:{series.signal}", series.to_series_data())
            self._series.setdefault(series.workload.key, []).append(cursor)

    def data(self, ref: WorkloadRef, signal: Signal) -> SeriesData | None:
        """The whole recorded series of one signal in its canonical unit, or None."""
        for cursor in self._series.get(ref.key, ()):
            if cursor.signal is signal:
                return cursor.data
        return None

    def observe(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """Windows of every recorded signal of each workload, as seen at ``now``."""
        at = epoch(now)
        return {ref.key: self._windows(ref, at) for ref in workloads}

    def read(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """The same as ``observe``: a recording has no watched set to keep (the cursors
        only save work and fall back to a search for an earlier ``now``)."""
        return self.observe(workloads, now)

    def _windows(self, ref: WorkloadRef, at: float) -> dict[Signal, SignalWindow]:
        windows: dict[Signal, SignalWindow] = {}
        for cursor in self._series.get(ref.key, ()):
            end = cursor.visible_at(at)
            if end:
                window = SignalWindow(
                    ref, cursor.signal, cursor.source, at, cursor.data, visible=end
                )
            else:
                window = SignalWindow(
                    ref,
                    cursor.signal,
                    cursor.source,
                    at,
                    cursor.data,
                    Health.NO_DATA,
                    NO_SAMPLE_YET,
                    visible=0,
                )
            windows[cursor.signal] = window
        return windows
