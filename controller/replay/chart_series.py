"""Which signals the report charts: the workloads that matter, their telling signals.

The signal a verification judged is always charted for its workload (it is where the reader
checks the verdict), even beyond the per-workload and overall limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.models.base import epoch
from controller.models.decisions import ActionResult, VerificationResult
from controller.models.incident import Incident
from controller.models.incident_file import IncidentFile
from controller.models.signals import CANONICAL_UNITS, Signal
from controller.models.workloads import WorkloadRef
from controller.replay.result import ChartSeries
from controller.settings import DetectionSettings

MAX_CHARTS = 6
SIGNALS_PER_WORKLOAD = 3
DEFAULT_SIGNALS = (Signal.ERROR_RATIO, Signal.LATENCY_P99)

Verified = tuple[WorkloadRef, Signal]
"""A workload and the signal a verification judged on it."""


def _workloads(incident_file: IncidentFile, incidents: Sequence[Incident]) -> list[WorkloadRef]:
    chosen: list[WorkloadRef] = []
    truth = incident_file.ground_truth
    candidates = [truth.root_cause] if truth and truth.root_cause else []
    candidates += [i.workload for i in incidents]
    for ref in candidates:
        if ref is not None and ref not in chosen:
            chosen.append(ref)
    return chosen or [incident_file.workloads[0].ref]


def _signals(
    ref: WorkloadRef, incidents: Sequence[Incident], verified: Sequence[Verified]
) -> list[Signal]:
    """The verified signals first, then up to three telling ones (findings, then defaults)."""
    judged = [signal for workload, signal in verified if workload == ref]
    signals = [f.signal for i in incidents if i.workload == ref for f in i.findings if f.signal]
    telling = list(dict.fromkeys([*signals, *DEFAULT_SIGNALS]))[:SIGNALS_PER_WORKLOAD]
    return list(dict.fromkeys([*judged, *telling]))


def verifications_by_series(
    verifications: Sequence[VerificationResult], actions: Sequence[ActionResult]
) -> dict[Verified, tuple[VerificationResult, ...]]:
    """Verifications keyed by the target of the action they judged and by their signal."""
    targets = {a.plan_hash: a.action.target for a in actions if a.revert_of is None}
    judged: dict[Verified, tuple[VerificationResult, ...]] = {}
    for verification in verifications:
        target = targets.get(verification.plan_hash)
        if target is not None:
            key = (target, verification.signal)
            judged[key] = (*judged.get(key, ()), verification)
    return judged


def verified_signals(
    verifications: Sequence[VerificationResult], actions: Sequence[ActionResult]
) -> tuple[Verified, ...]:
    """Each verification's workload (the target of the action it judged) and signal."""
    return tuple(verifications_by_series(verifications, actions))


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
    incident_file: IncidentFile,
    incidents: Sequence[Incident],
    settings: DetectionSettings,
    *,
    verified: Sequence[Verified] = (),
) -> tuple[ChartSeries, ...]:
    """Up to MAX_CHARTS key series for the report, in canonical units, plus verified ones."""
    recorded = {(s.workload, s.signal): s for s in incident_file.series}
    start, end = epoch(incident_file.window.start), epoch(incident_file.window.end)
    charts: list[ChartSeries] = []
    for ref in _workloads(incident_file, incidents):
        for signal in _signals(ref, incidents, verified):
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
                    timestamps=tuple(data.timestamps[lo:hi]),
                    values=tuple(data.values[lo:hi]),
                    threshold=_threshold(signal, ref, incident_file, settings),
                )
            )
    return _bounded(charts, verified)


def _bounded(
    charts: Sequence[ChartSeries], verified: Sequence[Verified]
) -> tuple[ChartSeries, ...]:
    """At most MAX_CHARTS series (more only if verified ones need it), verified ones kept."""
    must = set(verified)
    room = max(0, MAX_CHARTS - sum(1 for c in charts if (c.workload, c.signal) in must))
    kept: list[ChartSeries] = []
    for chart in charts:
        if (chart.workload, chart.signal) in must:
            kept.append(chart)
        elif room:
            kept.append(chart)
            room -= 1
    return tuple(kept)
