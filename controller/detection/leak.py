"""Memory leak: memory that climbs steadily towards its limit while the load does not.

A least-squares line through memory_saturation over ``memory_leak_window`` must rise by at
least ``memory_leak_min_growth`` (fraction of the limit), fit well, and reach the limit within
``memory_leak_horizon``. Growth that tracks a rising request rate is load, not a leak, and is
left to the saturation detector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import mul, sub

from controller.detection.context import DetectorInput, pct
from controller.detection.persistence import mean_between
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal, SignalWindow
from controller.settings import DetectionSettings

MIN_R_SQUARED = 0.8
"""How straight the climb must be; a noisy plateau is not a leak."""

MAX_LOAD_GROWTH = 0.25
"""Request-rate growth over the window (relative) above which memory growth is explained."""

PAGE_WITHIN_SECONDS = 30 * 60.0
"""A projected OOM sooner than this pages; later is a ticket."""

MIN_POINTS = 5

BOUND_SLACK = 1e-6
"""Relative slack of ``growth_bound``: far above the rounding error of a fit's sums."""


@dataclass(frozen=True, slots=True)
class Trend:
    """A fitted line: slope per second, value at ``now``, goodness of fit, first sample time."""

    slope: float
    at_now: float
    r_squared: float
    first: float


def fit(points: Sequence[tuple[float, float]], now: float) -> Trend | None:
    """Ordinary least squares of value on time; None when the line is undefined.

    Times are shifted to ``now`` first: squaring epoch seconds would lose the precision the
    slope needs.
    """
    return fit_series([t for t, _ in points], [v for _, v in points], now)


def fit_series(times: Sequence[float], values: Sequence[float], now: float) -> Trend | None:
    """``fit`` over parallel sequences of times and values (the same arithmetic, in order).

    The sums run over ``map`` with ``operator`` functions: the same float operations in the
    same order as element-by-element loops, so the same result, without a Python frame per
    sample.
    """
    count = len(times)
    if count < 2:
        return None
    shifted = list(map(sub, times, repeat(now, count)))
    mean_t = sum(shifted) / count
    mean_v = sum(values) / count
    dt = list(map(sub, shifted, repeat(mean_t, count)))
    dv = list(map(sub, values, repeat(mean_v, count)))
    sxx = sum(map(mul, dt, dt))
    sxy = sum(map(mul, dt, dv))
    syy = sum(map(mul, dv, dv))
    if not all(math.isfinite(x) for x in (sxx, sxy, syy, mean_v)) or sxx <= 0 or syy <= 0:
        return None
    slope = sxy / sxx
    r_squared = (sxy / sxx) * (sxy / syy)
    trend = Trend(slope, mean_v - slope * mean_t, r_squared, times[0])
    return trend if math.isfinite(trend.at_now) and math.isfinite(r_squared) else None


def growth_bound(memory: SignalWindow, seconds: float) -> float:
    """An upper bound of the growth a fit over the last ``seconds`` could find, without the fit.

    A fitted slope is at most sd(values) / sd(times) (Cauchy-Schwarz); sd(values) is at most
    half the values' range, and n times no closer than their smallest gap spread at least as
    much as n evenly spaced ones: sd(times) >= gap * sqrt((n^2 - 1) / 12). The small slack
    terms cover the rounding of the fit's own arithmetic. Costs a few passes in C instead of
    the fit's dozen, and rules out nearly every window of a memory signal that is not climbing.
    """
    data = memory.data
    lo, hi = data.index_range(memory.observed_at - seconds, memory.observed_at)
    count = hi - lo
    if count < 2:
        return math.inf
    values, times = data.values[lo:hi], data.timestamps[lo:hi]
    return bound_of(max(values), min(values), min(map(sub, times[1:], times)), count, seconds)


def bound_of(top: float, bottom: float, gap: float, count: int, seconds: float) -> float:
    """``growth_bound`` from the window's extremes, smallest time gap and sample count.

    Split out so that the quiet-workload gate, which keeps the extremes of a sliding window
    (``streams.window_extremes``), computes the very same number without slicing.
    """
    spread = (top - bottom) + BOUND_SLACK * max(abs(top), abs(bottom))
    spread_t = gap * (1.0 - BOUND_SLACK) * math.sqrt((count * count - 1) / 12.0)
    return spread / 2.0 / spread_t * seconds * (1.0 + BOUND_SLACK)


def load_growth(requests: SignalWindow, seconds: float, floor: float) -> float | None:
    """Relative change of the mean request rate from the first to the last quarter.

    From (almost) no traffic, any traffic above ``floor`` counts as unbounded growth.
    """
    early = mean_between(requests, seconds, seconds * 0.75)
    late = mean_between(requests, seconds * 0.25, 0.0)
    if early is None or late is None:
        return None
    if early <= 0:
        return float("inf") if late > floor else 0.0
    return (late - early) / early


def seconds_to_limit(trend: Trend) -> float:
    """When the fitted line reaches 1.0 (the memory limit), counted from now."""
    return max(0.0, (1.0 - trend.at_now) / trend.slope)


def leak_trend(memory: SignalWindow, seconds: float) -> Trend | None:
    """The fitted memory trend over ``seconds`` when there is enough history to fit one."""
    if memory.coverage_seconds() < seconds or memory.count(seconds) < MIN_POINTS:
        return None
    lo, hi = memory.data.index_range(memory.observed_at - seconds, memory.observed_at)
    return fit_series(memory.data.timestamps[lo:hi], memory.data.values[lo:hi], memory.observed_at)


@dataclass(frozen=True, slots=True)
class Leak:
    """The numbers behind a leak finding."""

    trend: Trend
    growth: float
    eta: float
    load: float


def leak_evidence(
    memory: SignalWindow, requests: SignalWindow, settings: DetectionSettings
) -> Leak | None:
    """All leak conditions at once; None as soon as one fails.

    Windows that could not grow by ``memory_leak_min_growth`` whatever the fit (see
    ``growth_bound``) are ruled out before fitting: the outcome is the same, only cheaper.
    """
    seconds = settings.memory_leak_window.total_seconds()
    if growth_bound(memory, seconds) < settings.memory_leak_min_growth:
        return None
    trend = leak_trend(memory, seconds)
    if trend is None or trend.slope <= 0 or trend.r_squared < MIN_R_SQUARED:
        return None
    growth = trend.slope * seconds
    eta = seconds_to_limit(trend)
    if not math.isfinite(growth) or growth < settings.memory_leak_min_growth:
        return None
    if eta > settings.memory_leak_horizon.total_seconds():
        return None
    load = load_growth(requests, seconds, settings.min_request_rate)
    if load is None or load >= MAX_LOAD_GROWTH:
        return None
    return Leak(trend, growth, eta, load)


def detect_memory_leak(inputs: DetectorInput) -> Finding | None:
    """MEMORY_LEAK: steady growth towards the limit not explained by load.

    Needs memory_saturation and request_rate (without the load the growth is unexplained
    but also unexplainable, so it does not judge). Ticket, or page when the projected OOM is
    less than 30 minutes away.
    """
    memory = inputs.windows.get(Signal.MEMORY_SATURATION)
    requests = inputs.windows.get(Signal.REQUEST_RATE)
    if memory is None or requests is None:
        return None
    settings = inputs.settings
    leak = leak_evidence(memory, requests, settings)
    if leak is None:
        return None
    trend, minutes = leak.trend, settings.memory_leak_window.total_seconds() / 60
    return inputs.finding(
        FindingKind.MEMORY_LEAK,
        Severity.PAGE if leak.eta <= PAGE_WITHIN_SECONDS else Severity.TICKET,
        trend.first,
        signal=Signal.MEMORY_SATURATION,
        value=leak.growth,
        threshold=settings.memory_leak_min_growth,
        window=settings.memory_leak_window,
        detail=(
            f"memory grew {pct(leak.growth)} of the limit over {minutes:.0f}m "
            f"({pct(trend.slope * 3600)}/h, r^2 {trend.r_squared:.2f}), now {pct(trend.at_now)}; "
            f"projected to reach the limit in {leak.eta / 60:.0f}m; request rate changed "
            f"{pct(leak.load)} (not load-driven below {pct(MAX_LOAD_GROWTH)})"
        ),
    )
