"""Geometry for the HTML report's small-multiple line charts (hand-written, no plotting library).

This module computes numbers only: scaled polyline points, axis ticks and labels, the threshold
line and the stage markers. The Jinja template draws them as inline SVG, so every piece of text
passes through autoescaping. Keeping the maths here makes it testable without parsing SVG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from controller.models.workloads import WorkloadRef
from controller.replay.result import ChartSeries, TimelineEvent, TimelineKind
from controller.report.timefmt import format_axis, format_relative
from controller.report.view import printable

MAX_POINTS = 600
"""Upper bound of drawn points per series: more is invisible at this size and bloats the file."""

WIDTH, HEIGHT = 560.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 56.0, 16.0, 28.0, 30.0
GAP_FACTOR = 5.0
"""A pause longer than this many median sample intervals breaks the line instead of bridging."""

MARKER_NUDGE = 3.0
"""Pixels between markers that fall on the same moment."""

_TIME_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass(frozen=True, slots=True)
class MarkerStyle:
    """How one loop stage is drawn: colour, SVG dash pattern, legend label."""

    color: str
    dash: str
    label: str


MARKER_STYLES: dict[TimelineKind, MarkerStyle] = {
    TimelineKind.DETECTION: MarkerStyle("#d1242f", "", "detected"),
    TimelineKind.PROPOSAL: MarkerStyle("#0969da", "6 3", "proposed"),
    TimelineKind.ACTION: MarkerStyle("#1a7f37", "2 2", "acted"),
    TimelineKind.VERIFICATION: MarkerStyle("#8250df", "8 3 2 3", "verified"),
}
"""The stages that get a vertical marker; the order is the legend's."""


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick at pixel position ``pos`` with its label."""

    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical line where the controller did something to this workload."""

    x: float
    stage: TimelineKind
    style: MarkerStyle
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart, in SVG user units (``WIDTH`` x ``HEIGHT``)."""

    workload: str
    signal: str
    unit: str
    lines: tuple[str, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    threshold_y: float | None
    threshold_label: str
    markers: tuple[Marker, ...]
    points: int
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    top: float = TOP
    right: float = WIDTH - RIGHT
    bottom: float = HEIGHT - BOTTOM


@dataclass(frozen=True, slots=True)
class _Scale:
    """Linear map from a data interval onto a pixel interval."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        return round(self.start + (value - self.lo) / span * (self.end - self.start), 1)


@dataclass(frozen=True, slots=True)
class _Display:
    """How values of a unit are shown: multiplier and the unit label."""

    factor: float
    unit: str


def downsample(
    timestamps: Sequence[float], values: Sequence[float], max_points: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """Keep at most ``max_points`` samples, keeping each bucket's minimum and maximum.

    Min/max buckets keep spikes visible, which a plain stride would drop: a 30-second error
    burst in a day-long series is exactly what a postmortem chart must show.
    """
    count = len(timestamps)
    if count <= max_points:
        return list(timestamps), list(values)
    buckets = max(1, max_points // 2)
    kept: list[int] = []
    for b in range(buckets):
        lo, hi = b * count // buckets, (b + 1) * count // buckets
        chunk = range(lo, hi)
        low = min(chunk, key=lambda i: values[i])
        high = max(chunk, key=lambda i: values[i])
        kept.extend(sorted({low, high}))
    return [timestamps[i] for i in kept], [values[i] for i in kept]


def build_chart(
    series: ChartSeries,
    events: Sequence[TimelineEvent],
    resolve: Callable[[TimelineEvent], WorkloadRef | None],
    reference: datetime,
    window: tuple[datetime, datetime],
) -> Chart:
    """Lay out one series over the replay window, with its workload's stage markers."""
    ref = reference.timestamp()
    start, end = window[0].timestamp() - ref, window[1].timestamp() - ref
    x = _Scale(start, max(end, start + 60.0), LEFT, WIDTH - RIGHT)
    finite = [
        (t, v)
        for t, v in zip(series.timestamps, series.values, strict=False)
        if math.isfinite(t) and math.isfinite(v)
    ]
    times, values = downsample([t for t, _ in finite], [v for _, v in finite])
    threshold = series.threshold if _finite(series.threshold) else None
    display = _display(series.unit, [*values, *_optional(threshold)])
    y = _y_scale(values, threshold)
    return Chart(
        workload=series.workload.key,
        signal=series.signal.value,
        unit=display.unit,
        lines=_polylines([t - ref for t in times], values, x, y),
        x_ticks=_x_ticks(x),
        y_ticks=_y_ticks(y, display),
        threshold_y=None if threshold is None else y(threshold),
        threshold_label=""
        if threshold is None
        else f"threshold {_number(threshold * display.factor)}{_suffix(display)}",
        markers=_markers(series.workload, events, resolve, reference, x),
        points=len(times),
    )


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _optional(value: float | None) -> list[float]:
    return [] if value is None else [value]


def _display(unit: str, values: Sequence[float]) -> _Display:
    """Ratios read better as percent and sub-second latencies as milliseconds."""
    if unit == "ratio":
        return _Display(100.0, "%")
    if unit == "s" and values and max(abs(v) for v in values) < 1:
        return _Display(1000.0, "ms")
    return _Display(1.0, unit)


def _suffix(display: _Display) -> str:
    return display.unit if display.unit == "%" else f" {display.unit}"


def _y_scale(values: Sequence[float], threshold: float | None) -> _Scale:
    """From zero (or the minimum, if negative) to a rounded-up maximum above the threshold."""
    data = [*values, *_optional(threshold)]
    lo = min([0.0, *data])
    hi = max([0.0, *data])
    if hi <= lo:
        hi = lo + 1.0
    step = _nice_step((hi - lo) / 4)
    lo = math.floor(lo / step) * step
    hi = math.ceil(hi * 1.05 / step) * step
    return _Scale(lo, hi, HEIGHT - BOTTOM, TOP)


def _nice_step(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``raw``."""
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if multiple * power >= raw * (1 - 1e-9):
            return multiple * power
    return 10 * power


def _y_ticks(y: _Scale, display: _Display) -> tuple[Tick, ...]:
    step = _nice_step((y.hi - y.lo) / 4)
    count = round((y.hi - y.lo) / step)
    return tuple(
        Tick(pos=y(y.lo + i * step), label=_number((y.lo + i * step) * display.factor))
        for i in range(count + 1)
    )


def _x_ticks(x: _Scale) -> tuple[Tick, ...]:
    """Round offsets (multiples of 15s ... 1d), five to eight of them, always through zero."""
    span = x.hi - x.lo
    step = next((s for s in _TIME_STEPS if span / s <= 8), _TIME_STEPS[-1])
    first = math.ceil(x.lo / step) * step
    ticks = []
    value = float(first)
    while value <= x.hi + 1e-6:
        ticks.append(Tick(pos=x(value), label=format_axis(value)))
        value += step
    return tuple(ticks)


def _number(value: float) -> str:
    """Up to three significant digits, no trailing zeros: ``5``, ``0.25``, ``1200``."""
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    if "e" in text:
        return f"{value:,.0f}" if abs(value) >= 1 else f"{value:.2e}"
    return text


def _polylines(
    offsets: Sequence[float], values: Sequence[float], x: _Scale, y: _Scale
) -> tuple[str, ...]:
    """SVG ``points`` strings, one per run of samples without a long gap."""
    if not offsets:
        return ()
    steps = sorted(b - a for a, b in zip(offsets, offsets[1:], strict=False))
    limit = GAP_FACTOR * steps[len(steps) // 2] if steps else math.inf
    runs: list[list[str]] = [[]]
    for index, (t, v) in enumerate(zip(offsets, values, strict=True)):
        if index and t - offsets[index - 1] > limit:
            runs.append([])
        runs[-1].append(f"{x(t)},{y(v)}")
    return tuple(" ".join(run) for run in runs)


def _markers(
    workload: WorkloadRef,
    events: Sequence[TimelineEvent],
    resolve: Callable[[TimelineEvent], WorkloadRef | None],
    reference: datetime,
    x: _Scale,
) -> tuple[Marker, ...]:
    """Vertical lines for this workload's detect / propose / act / verify events in the window.

    Stages often share a tick (detect and propose in the same second); each further marker at
    the same spot is nudged a few pixels right so that none hides another.
    """
    markers = []
    taken: dict[float, int] = {}
    for event in events:
        style = MARKER_STYLES.get(event.kind)
        offset = (event.at - reference).total_seconds()
        if style is None or resolve(event) != workload or not x.lo <= offset <= x.hi:
            continue
        pos = x(offset)
        nudge = taken.get(pos, 0)
        taken[pos] = nudge + 1
        title = f"{style.label} {format_relative(event.at, reference)}: {printable(event.summary)}"
        shifted = round(pos + MARKER_NUDGE * nudge, 1)
        markers.append(Marker(x=shifted, stage=event.kind, style=style, title=title))
    return tuple(markers)
