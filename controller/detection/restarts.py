"""Crash loops and restart bursts from the cumulative container-restart counter.

The counter is a sum over pods, so it drops when a pod is replaced (its count disappears with
it). Only positive increments are restarts; a drop is never counted, and never negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from controller.detection.context import DetectorInput
from controller.models.base import epoch
from controller.models.events import EventKind
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal, SignalWindow

CORROBORATING = (EventKind.POD_CRASH, EventKind.OOM_KILLED)
"""Events that confirm restarts are crashes (not, say, a rolling restart)."""


@dataclass(frozen=True, slots=True)
class Restarts:
    """Restarts seen in a window: how many, the first and the last increment's time."""

    total: float
    first_at: float
    last_at: float


def increments(points: Sequence[tuple[float, float]]) -> Restarts | None:
    """Sum of positive steps between consecutive samples; None when none (or absurd)."""
    total = 0.0
    stepped: list[float] = []
    for (_, before), (at, after) in zip(points, points[1:], strict=False):
        if after > before:
            total += after - before
            stepped.append(at)
    if not stepped or not math.isfinite(total):
        return None
    return Restarts(total, stepped[0], stepped[-1])


def restarts_within(window: SignalWindow, seconds: float) -> Restarts | None:
    """Restarts counted over the last ``seconds`` (reads only that slice of the series).

    A counter that did not move in the slice has no positive step: that common case is
    told apart by its extremes, without walking the samples.
    """
    values = window.values(seconds)
    if len(values) < 2 or max(values) == min(values):
        return None
    return increments(window.points(seconds))


def corroboration(inputs: DetectorInput, seconds: float) -> str:
    """Mention pod_crash / oom_killed events of the window: they confirm the restarts."""
    start = inputs.now - seconds
    counts = {kind: 0 for kind in CORROBORATING}
    for event in inputs.events:
        if event.kind in counts and start < epoch(event.time) <= inputs.now:
            counts[event.kind] += 1
    seen = [f"{count} {kind.value}" for kind, count in counts.items() if count]
    if not seen:
        return "no pod_crash or oom_killed events in the window"
    return "corroborated by " + ", ".join(seen) + " event(s)"


def _finding(
    inputs: DetectorInput, kind: FindingKind, restarts: Restarts, needed: int, window: timedelta
) -> Finding:
    """Both restart detectors report the same numbers, against their own thresholds."""
    return inputs.finding(
        kind,
        Severity.PAGE,
        restarts.first_at,
        signal=Signal.RESTARTS,
        value=restarts.total,
        threshold=float(needed),
        window=window,
        detail=(
            f"{restarts.total:.0f} container restarts in the last "
            f"{window.total_seconds() / 60:g}m (threshold {needed}), the latest "
            f"{inputs.now - restarts.last_at:.0f}s ago; "
            f"{corroboration(inputs, window.total_seconds())}"
        ),
    )


def detect_crash_loop(inputs: DetectorInput) -> Finding | None:
    """CRASH_LOOP (page): enough restarts in the window and still restarting recently.

    "Recently" is the newer half of the window: CrashLoopBackOff waits up to five minutes
    between restarts, so a shorter tail would drop a loop that is merely backing off.
    """
    window = inputs.windows.get(Signal.RESTARTS)
    if window is None:
        return None
    settings = inputs.settings
    seconds = settings.crash_loop_window.total_seconds()
    restarts = restarts_within(window, seconds)
    if restarts is None or restarts.total < settings.crash_loop_restarts:
        return None
    if restarts.last_at <= inputs.now - seconds / 2:
        return None
    return _finding(
        inputs,
        FindingKind.CRASH_LOOP,
        restarts,
        settings.crash_loop_restarts,
        settings.crash_loop_window,
    )


def detect_restart_burst(inputs: DetectorInput) -> Finding | None:
    """RESTART_BURST (page): many restarts in a short window, e.g. many pods dying at once."""
    window = inputs.windows.get(Signal.RESTARTS)
    if window is None:
        return None
    settings = inputs.settings
    restarts = restarts_within(window, settings.restart_burst_window.total_seconds())
    if restarts is None or restarts.total < settings.restart_burst_restarts:
        return None
    return _finding(
        inputs,
        FindingKind.RESTART_BURST,
        restarts,
        settings.restart_burst_restarts,
        settings.restart_burst_window,
    )
