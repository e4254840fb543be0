"""Which signals detection may trust at a tick, and when a workload is blind.

A signal is *usable* when its window exists, its health is ok and its newest sample is no
older than ``stale_after``. Detectors only ever see usable windows, so missing, stale or
erroneous data can never look like a calm signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from controller.models.incident import BlindSpot
from controller.models.signals import Health, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.settings import DetectionSettings


def problem(window: SignalWindow | None, stale_after: float) -> str | None:
    """Why a window cannot be trusted, or None when it can.

    The reason names the age or the backend message so that a human reading a blind
    report knows which query to look at.
    """
    if window is None:
        return "no data at all"
    if window.health is not Health.OK:
        message = f": {window.message}" if window.message else ""
        return f"health {window.health.value}{message}"
    age = window.age_seconds()
    if age is None:
        return "no samples"
    if age > stale_after:
        return f"newest sample {age:.0f}s old (stale after {stale_after:.0f}s)"
    return None


Problems = Mapping[Signal, str | None]
"""``problem`` of every window present, by signal: None for a usable one."""


def problems_of(windows: Mapping[Signal, SignalWindow], settings: DetectionSettings) -> Problems:
    """Judge every window once; ``usable_windows`` and ``blind_spot`` both read the verdicts."""
    stale_after = settings.stale_after.total_seconds()
    return {signal: problem(window, stale_after) for signal, window in windows.items()}


def usable_windows(
    windows: Mapping[Signal, SignalWindow],
    settings: DetectionSettings,
    problems: Problems | None = None,
) -> dict[Signal, SignalWindow]:
    """The windows detectors may read: present, healthy and fresh.

    ``problems`` (from ``problems_of`` over the same windows) saves judging them again.
    """
    found = problems_of(windows, settings) if problems is None else problems
    return {signal: window for signal, window in windows.items() if found[signal] is None}


def blind_spot(
    workload: WorkloadRef,
    windows: Mapping[Signal, SignalWindow],
    settings: DetectionSettings,
    since: datetime,
    problems: Problems | None = None,
) -> BlindSpot | None:
    """A BlindSpot when any required signal is unusable, else None.

    ``since`` is when the blindness began (the caller keeps it across ticks); ``problems``
    as for ``usable_windows``.
    """
    stale_after = settings.stale_after.total_seconds()
    found = problems_of(windows, settings) if problems is None else problems
    reasons: list[tuple[Signal, str]] = []
    for signal in dict.fromkeys(settings.required_signals):
        reason = found[signal] if signal in found else problem(None, stale_after)
        if reason is not None:
            reasons.append((signal, reason))
    if not reasons:
        return None
    return BlindSpot(
        workload=workload,
        signals=tuple(signal for signal, _ in reasons),
        since=since,
        reason="; ".join(f"{signal.value}: {reason}" for signal, reason in reasons),
    )
