"""The rolling per-(workload, signal) sample store behind incremental Prometheus queries.

Each tick refetches only the tail of every series; the newly fetched range is authoritative
(it replaces whatever the store held in that range, so a late-arriving sample or a revised
rate overwrites the old one) and anything older than the lookback is dropped. Pure: no I/O.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controller.models.signals import SeriesData, Signal

Point = tuple[float, float]
Key = tuple[str, Signal]


def finite_points(points: Iterable[Point]) -> list[Point]:
    """Drop NaN and infinite samples (gaps, never zero), sort and de-duplicate by time."""
    by_time = {t: v for t, v in points if math.isfinite(t) and math.isfinite(v)}
    return sorted(by_time.items())


def parse_values(values: Sequence[Sequence[object]]) -> tuple[list[Point], int]:
    """Prometheus ``[[unix_time, "value"], ...]`` pairs as floats, and how many were not finite.

    Values arrive as strings ("1.5", "NaN", "+Inf"); unreadable or non-finite ones are
    counted and dropped so that the caller can report them.
    """
    kept: list[Point] = []
    dropped = 0
    for pair in values:
        try:
            at, value = float(str(pair[0])), float(str(pair[1]))
        except (IndexError, ValueError):
            dropped += 1
            continue
        if math.isfinite(at) and math.isfinite(value):
            kept.append((at, value))
        else:
            dropped += 1
    return finite_points(kept), dropped


@dataclass(slots=True)
class _Series:
    times: list[float]
    values: list[float]


def _splice(series: _Series, start: float, end: float, points: Iterable[Point]) -> None:
    """Make ``points`` the only samples of ``series`` within [start, end], in place."""
    lo = bisect.bisect_left(series.times, start)
    hi = bisect.bisect_right(series.times, end)
    fresh = [(t, v) for t, v in finite_points(points) if start <= t <= end]
    series.times[lo:hi] = [t for t, _ in fresh]
    series.values[lo:hi] = [v for _, v in fresh]


class SeriesStore:
    """Samples per (workload key, signal), at most ``lookback`` seconds old."""

    def __init__(self, lookback: float) -> None:
        if lookback <= 0:
            raise ValueError("lookback must be positive")
        self.lookback = lookback
        self._series: dict[Key, _Series] = {}

    def replace(self, key: Key, start: float, end: float, points: Iterable[Point]) -> None:
        """Make ``points`` the only samples of ``key`` within [start, end]."""
        _splice(self._series.setdefault(key, _Series([], [])), start, end, points)

    def merged(self, key: Key, start: float, end: float, points: Iterable[Point]) -> SeriesData:
        """What ``replace`` then ``trim(end)`` would leave of ``key``, without changing the store.

        For point reads: a fetched tail laid over the stored history of a watched series,
        cut to [end - lookback, end]; the store, and every later tick, never see it.
        """
        stored = self._series.get(key)
        copy = (
            _Series([], []) if stored is None else _Series(list(stored.times), list(stored.values))
        )
        _splice(copy, start, end, points)
        lo = bisect.bisect_left(copy.times, end - self.lookback)
        hi = bisect.bisect_right(copy.times, end)
        return SeriesData(tuple(copy.times[lo:hi]), tuple(copy.values[lo:hi]))

    def trim(self, now: float) -> None:
        """Forget samples older than the lookback, and series left empty."""
        horizon = now - self.lookback
        for key in list(self._series):
            series = self._series[key]
            cut = bisect.bisect_left(series.times, horizon)
            del series.times[:cut]
            del series.values[:cut]
            if not series.times:
                del self._series[key]

    def forget(self, keep: set[str]) -> None:
        """Drop every series of a workload that is no longer watched."""
        for key in [k for k in self._series if k[0] not in keep]:
            del self._series[key]

    def data(self, key: Key) -> SeriesData:
        """The stored samples of ``key`` (empty when none)."""
        series = self._series.get(key)
        if series is None:
            return SeriesData((), ())
        return SeriesData(tuple(series.times), tuple(series.values))

    def latest(self, key: Key) -> Point | None:
        """The newest stored (timestamp, value) of ``key``, or None."""
        series = self._series.get(key)
        if series is None or not series.times:
            return None
        return series.times[-1], series.values[-1]

    def __len__(self) -> int:
        return sum(len(series.times) for series in self._series.values())
