"""Fleet-anomaly guard (R7, CH-09): when the whole fleet turns red at once, suspect the sensor.

A recording rule that switches latency from seconds to milliseconds, or a label rename that
makes every error ratio 100%, makes every workload breach at the same moment. Remediating
twenty services for one broken sensor is the worst possible response, so ``fleet_anomaly``
tells the caller to freeze (take no action at all) and page once. Two independent rules:

1. **Burst of incidents.** The largest set of open incidents, on workloads still unhealthy,
   that opened within ``BURST`` (2 minutes) of each other: "at once, in the same evaluation",
   allowing for detector persistence that makes simultaneous breaches open a tick or two
   apart. Measuring the burst among the *open* incidents (not only the last 2 minutes before
   ``now``) keeps the freeze on while the fleet stays red, instead of lifting it 2 minutes in
   and remediating every service. Freeze when the burst holds more than ``fleet_count``
   workloads, or more than ``fleet_fraction`` of the watched ones and at least
   ``MIN_FRACTION_BREACHES`` (on a three-service demo one incident is 33%: a fraction alone
   would freeze on every genuine incident).
2. **Step change.** For each SLI (latency_p99, latency_p50, error_ratio, request_rate), at any
   sample time within ``STEP_LOOKBACK``: more than half of the workloads reporting a sample
   at that moment jumped (or dropped) by ``step_change_factor`` or more from their previous
   sample, and at least ``MIN_STEP_WORKLOADS`` did. A unit or label change moves every series
   at the same instant by the same factor; a genuine spike of one workload does not.

Pure: windows, the detection outcome and ``now`` in, a verdict out; it never raises on any
windows (values are finite by construction; zeros and negatives are floored).
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from controller.detection.api import DetectionOutcome, as_utc
from controller.models.base import epoch, format_duration, from_epoch
from controller.models.incident import Incident, WorkloadStatus
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.settings import ModeSettings

BURST = timedelta(minutes=2)
"""Incidents opened within this span of each other breached "at once"."""
MIN_FRACTION_BREACHES = 3
"""The fraction rule needs at least this many breaching workloads."""
STEP_LOOKBACK = timedelta(minutes=10)
"""How far back a fleet-wide step change keeps the fleet frozen by itself."""
MIN_STEP_WORKLOADS = 3
"""A step change needs at least this many workloads jumping together."""
STEP_SIGNALS = (Signal.LATENCY_P99, Signal.LATENCY_P50, Signal.ERROR_RATIO, Signal.REQUEST_RATE)
FLOORS: Mapping[Signal, float] = {
    Signal.LATENCY_P99: 0.001,
    Signal.LATENCY_P50: 0.001,
    Signal.ERROR_RATIO: 0.001,
    Signal.REQUEST_RATE: 0.01,
}
"""Values below these count as the floor, so 0 -> tiny is no infinite jump (1 ms, 0.1%,
0.01 req/s)."""


@dataclass(frozen=True, slots=True)
class FleetVerdict:
    """Whether the fleet looks like a lying sensor, why, and which workloads are involved.

    ``breaching``: keys of the largest incident burst plus the workloads of every detected
    step change, sorted.
    """

    frozen: bool
    reasons: tuple[str, ...] = ()
    breaching: tuple[str, ...] = ()
    watched: int = 0


@dataclass(frozen=True, slots=True)
class StepChange:
    """Most of the fleet jumped at one sample time in one SLI."""

    signal: Signal
    at: float
    direction: str
    jumped: tuple[str, ...]
    reporting: int
    factor: float

    def describe(self) -> str:
        """The reason line, with the numbers (CH-09's "suspected observability fault")."""
        return (
            f"suspected unit change: {self.signal.value} {self.direction} "
            f"x{_factor(self.factor)} between consecutive samples at {_clock(self.at)} "
            f"on {len(self.jumped)} of {self.reporting} workloads reporting it "
            "(R7: suspect the sensor, not the fleet)"
        )


def _factor(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _clock(seconds: float) -> str:
    """A sample time for a reason; a timestamp outside the calendar must not raise."""
    try:
        return f"{from_epoch(seconds):%Y-%m-%dT%H:%M:%SZ}"
    except (OverflowError, ValueError, OSError):
        return f"t={seconds:.0f}"


# -- rule 1: a burst of incidents ---------------------------------------------------------


def breaching_incidents(outcome: DetectionOutcome, now: datetime) -> list[Incident]:
    """Open incidents, opened by ``now``, whose workload is unhealthy (not merely blind)."""
    return [
        incident
        for incident in outcome.open
        if incident.opened_at <= now
        and outcome.statuses.get(incident.workload.key, WorkloadStatus.UNHEALTHY)
        is WorkloadStatus.UNHEALTHY
    ]


def largest_burst(incidents: Iterable[Incident]) -> list[Incident]:
    """The most incidents opened within ``BURST`` of each other (the earliest such set)."""
    ordered = sorted(incidents, key=lambda i: (i.opened_at, i.workload.key))
    best: list[Incident] = []
    low = 0
    for high, incident in enumerate(ordered):
        while incident.opened_at - ordered[low].opened_at > BURST:
            low += 1
        if high + 1 - low > len(best):
            best = ordered[low : high + 1]
    return best


def burst_reason(burst: list[Incident], watched: int, settings: ModeSettings) -> str | None:
    """The freeze reason when the burst is too large, else None."""
    count = len(burst)
    share = count / watched if watched else 0.0
    over_count = count > settings.fleet_count
    over_share = count >= MIN_FRACTION_BREACHES and share > settings.fleet_fraction
    if not (over_count or over_share):
        return None
    limits = []
    if over_count:
        limits.append(f"more than fleet_count {settings.fleet_count}")
    if over_share:
        limits.append(f"more than fleet_fraction {settings.fleet_fraction:.0%}")
    first, last = burst[0].opened_at, burst[-1].opened_at
    return (
        f"{count} of {watched} watched workloads ({share:.0%}) opened incidents within "
        f"{format_duration(BURST)} ({first:%H:%M:%S}-{last:%H:%M:%S}): "
        f"{' and '.join(limits)}; suspected observability fault or shared dependency (R7)"
    )


# -- rule 2: a fleet-wide step change ------------------------------------------------------


def _jump(before: float, after: float, floor: float) -> float:
    """Signed factor: > 0 for a rise by that factor, < 0 for a drop by it."""
    low, high = max(before, floor), max(after, floor)
    return high / low if high >= low else -(low / high)


@dataclass(slots=True)
class _BigSteps:
    """Indices ``i`` in ``[start, upto)`` whose step from sample ``i - 1`` reaches the factor.

    Kept in the series' memo: a step never changes once both samples exist, so each tick
    examines only the samples that arrived since the last one (usually one per series),
    not the whole lookback.
    """

    start: int
    upto: int
    found: list[int]


def _big_steps(data: SeriesData, first: int, end: int, floor: float, factor: float) -> list[int]:
    """Indices in ``[first, end)`` (``first >= 1``) with ``|jump| >= factor``, ascending."""
    key = ("fleet.step", floor, factor)
    memo = data.memo.get(key)
    if not isinstance(memo, _BigSteps) or first < memo.start or first > memo.upto:
        memo = _BigSteps(start=first, upto=first, found=[])
        data.memo[key] = memo
    values = data.values
    for index in range(memo.upto, end):
        # |_jump(before, after, floor)|, spelled out: one call less per sample and tick.
        low, high = max(values[index - 1], floor), max(values[index], floor)
        if (high / low if high >= low else low / high) >= factor:
            memo.found.append(index)
    memo.upto = max(memo.upto, end)
    found = memo.found
    if not found or found[-1] < first:  # the usual answer: no big step in the lookback
        return []
    return found[bisect.bisect_left(found, first) : bisect.bisect_left(found, end)]


class _Span(NamedTuple):
    """The samples of one workload's window that have a previous sample to jump from (a
    named tuple: one is built per workload, signal and tick, and a tuple builds fastest)."""

    key: str
    data: SeriesData
    first: int
    end: int
    floor: float

    def reports(self, at: float) -> bool:
        """Whether the span has a step at sample time ``at``."""
        index = bisect.bisect_left(self.data.timestamps, at, self.first, self.end)
        return index < self.end and self.data.timestamps[index] == at


def _spans(
    windows: Mapping[str, Mapping[Signal, SignalWindow]], signal: Signal, now: float
) -> list[_Span]:
    """Healthy windows of ``signal`` with at least one step in (now - lookback, now], by key."""
    start = now - STEP_LOOKBACK.total_seconds()
    spans = []
    for key in sorted(windows):
        window = windows[key].get(signal)
        if window is None or window.health is not Health.OK:
            continue
        timestamps = window.data.timestamps
        hi = window.visible if window.observed_at <= now else bisect.bisect_right(timestamps, now)
        lo = bisect.bisect_right(timestamps, start, 0, hi)
        if hi > max(lo, 1):
            spans.append(_Span(key, window.data, max(lo, 1), hi, FLOORS[window.signal]))
    return spans


def _jumps(
    spans: Iterable[_Span], factor: float
) -> dict[tuple[float, str], list[tuple[str, float]]]:
    """Every big step of the spans, by (sample time, direction): (workload key, |jump|)."""
    jumped: dict[tuple[float, str], list[tuple[str, float]]] = {}
    for span in spans:
        data, floor = span.data, span.floor
        for index in _big_steps(data, span.first, span.end, floor, factor):
            jump = _jump(data.values[index - 1], data.values[index], floor)
            direction = "rose" if jump > 0 else "dropped"
            jumped.setdefault((data.timestamps[index], direction), []).append((span.key, abs(jump)))
    return jumped


def step_changes(
    windows: Mapping[str, Mapping[Signal, SignalWindow]],
    signal: Signal,
    settings: ModeSettings,
    now: float,
) -> list[StepChange]:
    """Every sample time at which most workloads reporting ``signal`` jumped together.

    A workload reports at a sample time when it has a sample there (after its first) within
    the lookback; each series' big steps are found once (``_big_steps``) and looked up, and
    the workloads reporting are counted only at the rare times where enough of them jumped.
    """
    spans = _spans(windows, signal, now)
    jumped = _jumps(spans, settings.step_change_factor)
    found = []
    for (at, direction), keys in sorted(jumped.items()):
        if len(keys) < MIN_STEP_WORKLOADS:
            continue
        reporting = sum(1 for span in spans if span.reports(at))
        if len(keys) * 2 > reporting:
            median = statistics.median(size for _, size in keys)
            names = tuple(key for key, _ in keys)
            found.append(StepChange(signal, at, direction, names, reporting, median))
    return found


# -- the verdict ---------------------------------------------------------------------------


def fleet_anomaly(
    windows: Mapping[str, Mapping[Signal, SignalWindow]],
    outcome: DetectionOutcome,
    settings: ModeSettings,
    now: datetime,
) -> FleetVerdict:
    """Judge the whole fleet at ``now``: frozen when either rule of the module fires.

    ``windows`` are the current tick's windows per workload key (as given to detection);
    ``outcome`` is the same tick's detection outcome. Watched workloads are the union of
    both. Raises ValueError only for a naive ``now``.
    """
    now = as_utc(now)
    watched = set(windows) | set(outcome.statuses)
    watched |= {incident.workload.key for incident in outcome.open}
    burst = largest_burst(breaching_incidents(outcome, now))
    reasons: list[str] = []
    if (reason := burst_reason(burst, len(watched), settings)) is not None:
        reasons.append(reason)
    involved = {incident.workload.key for incident in burst}
    for signal in STEP_SIGNALS:
        changes = step_changes(windows, signal, settings, epoch(now))
        if changes:
            latest = changes[-1]
            reasons.append(latest.describe())
            involved.update(key for change in changes for key in change.jumped)
    return FleetVerdict(
        frozen=bool(reasons),
        reasons=tuple(reasons),
        breaching=tuple(sorted(involved)),
        watched=len(watched),
    )
