"""Geometry for the HTML report's small-multiple line charts (hand-written, no plotting library).

This module computes numbers only: scaled polyline points, axis ticks and labels, the threshold
line, the stage markers (the controller's stages, a changed diagnosis, and the actions humans
took during the real incident, each in its own style) and, on the chart of a signal that a
verification judged, a point at the verification time. The Jinja template draws them as
inline SVG, so every piece of text passes through autoescaping. Keeping the maths here makes
it testable without parsing SVG. Values are shown in the units of ``controller.report.units``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from controller.models.decisions import VerificationResult
from controller.models.workloads import WorkloadRef
from controller.replay.result import ChartSeries, ComparisonRow, TimelineEvent, TimelineKind
from controller.report.timefmt import format_axis, format_relative
from controller.report.units import Display, display, number
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
    """How one kind of marker is drawn: CSS key, colour, SVG dash pattern, legend label."""

    key: str
    color: str
    dash: str
    label: str


DETECTED = MarkerStyle("detection", "#d1242f", "", "detected")
REDIAGNOSED = MarkerStyle("rediagnosis", "#fb8500", "1 3", "diagnosis changed")
PROPOSED = MarkerStyle("proposal", "#0969da", "6 3", "proposed")
ACTED = MarkerStyle("action", "#1a7f37", "2 2", "acted")
VERIFIED = MarkerStyle("verification", "#8250df", "8 3 2 3", "verified")
HUMAN = MarkerStyle("human", "#bf3989", "10 4", "human acted (recorded)")

MARKER_STYLES: tuple[MarkerStyle, ...] = (DETECTED, REDIAGNOSED, PROPOSED, ACTED, VERIFIED, HUMAN)
"""Every vertical marker kind; the order is the legend's."""

STAGE_MARKERS: dict[TimelineKind, MarkerStyle] = {
    TimelineKind.DETECTION: DETECTED,
    TimelineKind.PROPOSAL: PROPOSED,
    TimelineKind.ACTION: ACTED,
    TimelineKind.VERIFICATION: VERIFIED,
}
"""The controller's stages that get a vertical marker."""

REDIAGNOSED_PREFIX = "diagnosis changed"
"""How the replay's timeline starts a detection row whose incident was re-diagnosed."""

POINT_COLOR = "#8250df"
POINT_LABEL = "verification: value judged"


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick at pixel position ``pos`` with its label."""

    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical line where the controller (or, recorded, a human) did something."""

    x: float
    style: MarkerStyle
    title: str


@dataclass(frozen=True, slots=True)
class Point:
    """A dot on the plot: the value a verification judged, at the verification time."""

    x: float
    y: float
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
    verified: bool = False
    dots: tuple[Point, ...] = ()
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
    *,
    recorded: Sequence[ComparisonRow] = (),
    verifications: Sequence[VerificationResult] = (),
) -> Chart:
    """Lay out one series over the replay window, with its workload's markers.

    ``recorded`` are the comparison rows (the humans' actions during the real incident);
    ``verifications`` are those that judged this very series, each drawn as a point.
    """
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
    shown = display(series.unit)
    y = _y_scale([*values, *_judged_values(verifications)], threshold)
    taken: dict[float, int] = {}
    markers = _markers(series.workload, events, resolve, reference, x, taken)
    markers += _human_markers(series.workload, recorded, reference, x, taken)
    return Chart(
        workload=series.workload.key,
        signal=series.signal.value,
        unit=shown.unit,
        lines=_polylines([t - ref for t in times], values, x, y),
        x_ticks=_x_ticks(x),
        y_ticks=_y_ticks(y, shown),
        threshold_y=None if threshold is None else y(threshold),
        threshold_label="" if threshold is None else f"threshold {shown.format(threshold)}",
        markers=markers,
        points=len(times),
        verified=bool(verifications),
        dots=_verification_points(verifications, shown, reference, x, y),
    )


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _optional(value: float | None) -> list[float]:
    return [] if value is None else [value]


def _judged_values(verifications: Sequence[VerificationResult]) -> list[float]:
    """Baselines and observed values, so that a verification point is always on the plot."""
    found = [value for v in verifications for value in (v.baseline, v.observed)]
    return [value for value in found if value is not None and math.isfinite(value)]


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


def _y_ticks(y: _Scale, shown: Display) -> tuple[Tick, ...]:
    step = _nice_step((y.hi - y.lo) / 4)
    count = round((y.hi - y.lo) / step)
    return tuple(
        Tick(pos=y(y.lo + i * step), label=number((y.lo + i * step) * shown.factor))
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
    taken: dict[float, int],
) -> tuple[Marker, ...]:
    """Vertical lines for this workload's detect / re-diagnose / propose / act / verify events.

    Stages often share a tick (detect and propose in the same second); each further marker at
    the same spot (``taken`` counts them) is nudged a few pixels right so none hides another.
    """
    markers: list[Marker] = []
    for event in events:
        style = marker_style(event)
        offset = (event.at - reference).total_seconds()
        if style is None or resolve(event) != workload or not x.lo <= offset <= x.hi:
            continue
        title = f"{style.label} {format_relative(event.at, reference)}: {printable(event.summary)}"
        markers.append(Marker(x=_place(x(offset), taken), style=style, title=title))
    return tuple(markers)


def marker_style(event: TimelineEvent) -> MarkerStyle | None:
    """The marker of a timeline event, if its stage gets one; a re-diagnosis has its own."""
    if event.kind is TimelineKind.DETECTION and event.summary.startswith(REDIAGNOSED_PREFIX):
        return REDIAGNOSED
    return STAGE_MARKERS.get(event.kind)


def _human_markers(
    workload: WorkloadRef,
    rows: Sequence[ComparisonRow],
    reference: datetime,
    x: _Scale,
    taken: dict[float, int],
) -> tuple[Marker, ...]:
    """Where a human acted on this workload during the real incident (the recorded actions)."""
    markers = []
    for row in rows:
        if row.recorded_at is None or row.workload != workload:
            continue
        offset = (row.recorded_at - reference).total_seconds()
        if not x.lo <= offset <= x.hi:
            continue
        when = format_relative(row.recorded_at, reference)
        title = f"{HUMAN.label} {when}: {printable(row.recorded or '')}"
        markers.append(Marker(x=_place(x(offset), taken), style=HUMAN, title=title))
    return tuple(markers)


def _verification_points(
    verifications: Sequence[VerificationResult],
    shown: Display,
    reference: datetime,
    x: _Scale,
    y: _Scale,
) -> tuple[Point, ...]:
    """The observed value each verification judged, at its time, titled in display units."""
    points = []
    for v in verifications:
        offset = (v.at - reference).total_seconds()
        if v.observed is None or not math.isfinite(v.observed) or not x.lo <= offset <= x.hi:
            continue
        baseline = "no baseline" if v.baseline is None else shown.format(v.baseline)
        change = "" if v.relative_change is None else f" ({v.relative_change:+.0%})"
        title = (
            f"verification {format_relative(v.at, reference)}: {v.phase.value}, {v.signal.value} "
            f"{baseline} -> {shown.format(v.observed)}{change}"
        )
        points.append(Point(x=x(offset), y=y(v.observed), title=title))
    return tuple(points)


def _place(pos: float, taken: dict[float, int]) -> float:
    """``pos``, nudged right past the markers already there."""
    nudge = taken.get(pos, 0)
    taken[pos] = nudge + 1
    return round(pos + MARKER_NUDGE * nudge, 1)
