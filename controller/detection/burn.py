"""SLO burn rate, multi-window (SRE Workbook, chapter 5).

Burn rate = error ratio / error budget. A fast window alone pages on every blip and a slow
window alone pages long after users noticed; requiring both the long and the short window of a
pair to exceed the factor gives a fast, precise alert that also stops soon after recovery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.detection.context import DetectorInput, pct
from controller.detection.persistence import mean_of, run_start
from controller.models.base import format_duration
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal, SignalWindow
from controller.settings import BurnWindow

_SEVERITY_RANK = {Severity.PAGE: 0, Severity.TICKET: 1}


@dataclass(frozen=True, slots=True)
class Burn:
    """Burn rates of one window pair that fired."""

    pair: BurnWindow
    long_rate: float
    short_rate: float
    short_error_ratio: float


def budget(availability: float) -> float:
    """The error budget as a ratio (``0.999`` -> ``0.001``)."""
    return 1.0 - availability


def enough_traffic(requests: SignalWindow, seconds: float, floor: float) -> bool:
    """Below ``floor`` req/s an error ratio is noise: too little traffic is not a breach."""
    rate = mean_of(requests, seconds)
    return rate is not None and rate >= floor


def pair_burn(
    errors: SignalWindow, pair: BurnWindow, error_budget: float
) -> tuple[float, float, float] | None:
    """(long burn, short burn, short error ratio), or None without enough history.

    The long window uses whatever history is visible inside it, but at least the short
    window's worth of coverage is required so that a series that just began cannot fire.
    """
    short = pair.short.total_seconds()
    if errors.coverage_seconds() < short:
        return None
    long_mean = mean_of(errors, pair.long.total_seconds())
    short_mean = mean_of(errors, short)
    if long_mean is None or short_mean is None:
        return None
    long_rate, short_rate = long_mean / error_budget, short_mean / error_budget
    if not (math.isfinite(long_rate) and math.isfinite(short_rate)):
        return None
    return long_rate, short_rate, short_mean


def short_may_burn(errors: SignalWindow, pair: BurnWindow, error_budget: float) -> bool:
    """Whether the short window burns faster than the factor: one O(1) mean that rules out
    most pairs before traffic, coverage and the long window are read (a pair fires only
    when its short burn, computed the same way, exceeds the factor)."""
    short_mean = mean_of(errors, pair.short.total_seconds())
    return short_mean is not None and short_mean / error_budget > pair.factor


def firing_pairs(inputs: DetectorInput, errors: SignalWindow, requests: SignalWindow) -> list[Burn]:
    """Every configured window pair whose long and short burn both exceed its factor."""
    error_budget = budget(inputs.inventory.slo.availability)
    floor = inputs.settings.min_request_rate
    fired: list[Burn] = []
    for pair in inputs.settings.burn_windows:
        if not short_may_burn(errors, pair, error_budget):
            continue
        if not enough_traffic(requests, pair.short.total_seconds(), floor):
            continue
        rates = pair_burn(errors, pair, error_budget)
        if rates is not None and rates[0] > pair.factor and rates[1] > pair.factor:
            fired.append(Burn(pair, *rates))
    return fired


def detect_slo_burn(inputs: DetectorInput) -> Finding | None:
    """SLO_BURN when any window pair burns faster than its factor in both windows.

    Needs error_ratio *and* request_rate: without the traffic the ratio cannot be judged.
    Among several firing pairs the most severe wins, then the first configured.
    """
    errors = inputs.windows.get(Signal.ERROR_RATIO)
    requests = inputs.windows.get(Signal.REQUEST_RATE)
    if errors is None or requests is None:
        return None
    fired = firing_pairs(inputs, errors, requests)
    if not fired:
        return None
    burn = min(fired, key=lambda b: _SEVERITY_RANK[b.pair.severity])
    error_budget = budget(inputs.inventory.slo.availability)
    per_sample = error_budget * burn.pair.factor
    since = run_start(errors, lambda ratio: ratio > per_sample, burn.pair.long.total_seconds())
    return inputs.finding(
        FindingKind.SLO_BURN,
        burn.pair.severity,
        since,
        signal=Signal.ERROR_RATIO,
        value=burn.long_rate,
        threshold=burn.pair.factor,
        window=burn.pair.long,
        detail=(
            f"burn rate {burn.long_rate:.1f}x over {format_duration(burn.pair.long)} and "
            f"{burn.short_rate:.1f}x over {format_duration(burn.pair.short)} "
            f"(factor {burn.pair.factor:g}); error ratio {pct(burn.short_error_ratio)} "
            f"against a budget of {pct(error_budget)}"
        ),
    )
