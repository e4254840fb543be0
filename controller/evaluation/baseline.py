"""The naive localizer the controller has to beat, measured in the same run.

It reads only the incident file's metric series, never the ground truth and never the
controller's decisions: each workload's *anomaly* is, per sample, the largest relative rise
of its error ratio, p99 or p50 latency over that signal's first sample in the window. The
*entry symptom* is the anomaly of the entry workload (one no traced edge calls, else any
workload) that rose most. Workloads whose anomaly reached ``ANOMALOUS`` are ranked by the
Pearson correlation of their anomaly with the entry symptom, highest first; the entry
workload itself comes last among them (it correlates perfectly with itself and would
otherwise always win). Workloads that never became anomalous are not ranked.

Why this baseline: it is what an engineer does with a dashboard (which services got worse
in step with the user-facing symptom?), it needs no topology beyond "who is the entry", and
it shows how much the controller's localization adds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from controller.models.incident_file import IncidentFile
from controller.models.signals import Signal

SIGNALS = (Signal.ERROR_RATIO, Signal.LATENCY_P99, Signal.LATENCY_P50)
ANOMALOUS = 0.5
"""A workload is anomalous once a signal rose by half over its first value."""
FLOORS = {Signal.ERROR_RATIO: 0.01, Signal.LATENCY_P99: 0.05, Signal.LATENCY_P50: 0.01}
"""Smallest denominators (ratio, seconds): a rise from ~0 is measured against these."""


def _rises(values: Sequence[float | None], floor: float) -> list[float]:
    first = next((v for v in values if v is not None), None)
    if first is None:
        return [0.0] * len(values)
    base = max(abs(first), floor)
    return [0.0 if v is None else max(0.0, (v - first) / base) for v in values]


def anomalies(incident: IncidentFile) -> dict[str, list[float]]:
    """Per workload key, the per-sample anomaly (largest rise over its signals)."""
    found: dict[str, list[float]] = {}
    for series in incident.series:
        if series.signal not in SIGNALS:
            continue
        rises = _rises(tuple(series.values), FLOORS[series.signal])
        key = series.workload.key
        mine = found.setdefault(key, [0.0] * len(rises))
        if len(mine) != len(rises):  # series of one workload with other lengths: align ends
            width = min(len(mine), len(rises))
            mine, rises = mine[-width:], rises[-width:]
        found[key] = [max(a, b) for a, b in zip(mine, rises, strict=True)]
    return found


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    width = min(len(a), len(b))
    a, b = a[-width:], b[-width:]
    if width < 2:
        return 0.0
    ma, mb = sum(a) / width, sum(b) / width
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va <= 0 or vb <= 0:
        return 0.0
    return cov / math.sqrt(va * vb)


def entry_workloads(incident: IncidentFile) -> set[str]:
    """Workloads no traced edge calls (all of them when the file has no edges)."""
    by_service = {w.service_name: w.ref.key for w in incident.workloads}
    callees = {t.callee for t in incident.traces if t.caller is not None}
    if not callees:
        return set(by_service.values())
    return {key for service, key in by_service.items() if service not in callees}


def baseline_ranking(incident: IncidentFile) -> tuple[str, ...]:
    """Anomalous workloads ranked by correlation with the entry symptom (module docstring)."""
    found = anomalies(incident)
    entries = entry_workloads(incident) & found.keys()
    if not entries:
        return ()
    entry = max(sorted(entries), key=lambda k: max(found[k], default=0.0))
    symptom = found[entry]
    anomalous = [k for k, v in found.items() if max(v, default=0.0) >= ANOMALOUS]
    scored = {k: _pearson(found[k], symptom) for k in anomalous if k != entry}
    ranked = sorted(scored, key=lambda k: (-round(scored[k], 9), -max(found[k]), k))
    if entry in anomalous:
        ranked.append(entry)
    return tuple(ranked)
