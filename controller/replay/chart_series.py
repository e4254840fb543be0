"""Which signals the report charts: the workloads that matter, their telling signals."""

from __future__ import annotations

from collections.abc import Sequence

from controller.models.base import epoch
from controller.models.incident import Incident
from controller.models.incident_file import IncidentFile
from controller.models.signals import CANONICAL_UNITS, Signal
from controller.models.workloads import WorkloadRef
from controller.replay.result import ChartSeries
from controller.settings import DetectionSettings

MAX_CHARTS = 6
DEFAULT_SIGNALS = (Signal.ERROR_RATIO, Signal.LATENCY_P99)


def _workloads(incident_file: IncidentFile, incidents: Sequence[Incident]) -> list[WorkloadRef]:
    chosen: list[WorkloadRef] = []
    truth = incident_file.ground_truth
    candidates = [truth.root_cause] if truth and truth.root_cause else []
    candidates += [i.workload for i in incidents]
    for ref in candidates:
        if ref is not None and ref not in chosen:
            chosen.append(ref)
    return chosen or [incident_file.workloads[0].ref]


def _signals(ref: WorkloadRef, incidents: Sequence[Incident]) -> list[Signal]:
    signals = [f.signal for i in incidents if i.workload == ref for f in i.findings if f.signal]
    ordered = list(dict.fromkeys([*signals, *DEFAULT_SIGNALS]))
    return ordered[:3]


def _threshold(
    signal: Signal, ref: WorkloadRef, incident_file: IncidentFile, settings: DetectionSettings
) -> float | None:
    inventory = incident_file.workload(ref)
    if signal is Signal.LATENCY_P99:
        slo = inventory.slo.latency_p99_seconds if inventory else None
        return slo or settings.latency_p99_seconds
    if signal is Signal.CPU_SATURATION:
        return settings.cpu_saturation
    if signal is Signal.MEMORY_SATURATION:
        return settings.memory_saturation
    return None


def chart_series(
    incident_file: IncidentFile, incidents: Sequence[Incident], settings: DetectionSettings
) -> tuple[ChartSeries, ...]:
    """Up to MAX_CHARTS key series for the report, in canonical units."""
    recorded = {(s.workload, s.signal): s for s in incident_file.series}
    start, end = epoch(incident_file.window.start), epoch(incident_file.window.end)
    charts: list[ChartSeries] = []
    for ref in _workloads(incident_file, incidents):
        for signal in _signals(ref, incidents):
            series = recorded.get((ref, signal))
            if series is None:
                continue
            data = series.to_series_data()
            lo, hi = data.index_range(start - 1, end)
            charts.append(
                ChartSeries(
                    workload=ref,
                    signal=signal,
                    unit=CANONICAL_UNITS[signal],
                    timestamps=data.timestamps[lo:hi],
                    values=data.values[lo:hi],
                    threshold=_threshold(signal, ref, incident_file, settings),
                )
            )
    return tuple(charts[:MAX_CHARTS])
