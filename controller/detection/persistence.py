"""Persistence and hysteresis over signal windows, plus small window helpers.

A threshold alone flaps: one spike pages and one dip clears. So a condition *opens* only when
every sample of a hold period is above the threshold, and *clears* only when every sample of a
clear period is below a lower threshold. All helpers read through SignalWindow's O(1)/slice
accessors and never copy a whole series.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from controller.detection.state import CLOSED, Latch
from controller.models.signals import SignalWindow


@dataclass(frozen=True, slots=True)
class Band:
    """Thresholds and durations of one hysteresis detector (seconds and signal units)."""

    open_above: float
    clear_below: float
    hold: float
    clear: float


def held_above(window: SignalWindow, threshold: float, seconds: float) -> bool:
    """Every sample of the last ``seconds`` exceeds ``threshold`` (persistence).

    At least two samples are needed, and the visible history must reach back ``seconds``:
    a series that just started has not shown that the condition *persists*.
    """
    values = window.values(seconds)
    return len(values) >= 2 and min(values) > threshold and window.coverage_seconds() >= seconds


def held_below(window: SignalWindow, threshold: float, seconds: float) -> bool:
    """Every sample of the last ``seconds`` is below ``threshold`` (at least two samples)."""
    values = window.values(seconds)
    return len(values) >= 2 and max(values) < threshold


def run_start(
    window: SignalWindow, holds: Callable[[float], bool], limit_seconds: float = float("inf")
) -> float:
    """Time of the first sample of the trailing run of samples for which ``holds`` is true.

    This is the onset estimate: when the condition started, not when it was confirmed.
    Scans backwards only as far as the run goes (bounded by ``limit_seconds``), so it costs
    the length of the run, not of the series. The newest sample must satisfy ``holds``.
    """
    data = window.data
    lo, hi = data.index_range(window.observed_at - limit_seconds, window.observed_at)
    index = hi - 1
    while index > lo and holds(data.values[index - 1]):
        index -= 1
    return data.timestamps[index]


def step_latch(window: SignalWindow, previous: Latch, band: Band) -> Latch:
    """Advance a hysteresis latch by one tick.

    Closed: opens when the signal held above ``open_above`` for ``hold``. Open: stays open
    until the signal held below ``clear_below`` for ``clear``; between the two thresholds the
    previous condition wins, which is what stops flapping.
    """
    if previous.open:
        return CLOSED if held_below(window, band.clear_below, band.clear) else previous
    if held_above(window, band.open_above, band.hold):
        since = run_start(window, lambda value: value > band.open_above)
        return Latch(open=True, since=since)
    return CLOSED


def finite(value: float | None) -> float | None:
    """None for NaN or infinity: absurd magnitudes overflow prefix sums and must not judge."""
    return value if value is not None and math.isfinite(value) else None


def mean_of(window: SignalWindow, seconds: float) -> float | None:
    """Mean of the last ``seconds`` (O(1)); None when empty or not finite."""
    return finite(window.mean(seconds))


def mean_between(window: SignalWindow, start_ago: float, end_ago: float) -> float | None:
    """Mean of samples with ``now - start_ago < t <= now - end_ago``, in O(1) via prefix sums."""
    now = window.observed_at
    lo, hi = window.data.index_range(now - start_ago, now - end_ago)
    if hi <= lo:
        return None
    return finite(window.data.sum_between(lo, hi) / (hi - lo))


def latest_value(window: SignalWindow) -> float | None:
    """The newest visible value, or None."""
    latest = window.latest()
    return None if latest is None else latest[1]


def first_time(window: SignalWindow, seconds: float) -> float | None:
    """Timestamp of the oldest sample of the last ``seconds``, or None."""
    lo, hi = window.data.index_range(window.observed_at - seconds, window.observed_at)
    return window.data.timestamps[lo] if hi > lo else None
