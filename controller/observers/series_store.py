"""The rolling per-(workload, signal) sample store behind incremental Prometheus queries.

Each tick refetches only the tail of every series; the newly fetched range is authoritative
(it replaces whatever the store held in that range, so a late-arriving sample or a revised
rate overwrites the old one) and anything older than the lookback is dropped. Pure: no I/O.

Why it keeps ``SeriesData`` rather than lists: windows hand out exactly what is stored, so a
tick builds a ``SeriesData`` only for a series whose samples changed. One that did not (a
tick within the same evaluation step, a workload absent from the answer) keeps its object,
and with it the memo detectors left there. A change copies the kept part of the old columns
(an ``array`` slice: one memcpy), appends the fetched tail and drops what fell out of the
lookback, in a single rebuild (``SeriesData.continued``: only the new tail is checked and
summed, the kept head's prefix sums are reused); no Python float list is ever rebuilt.
Stored objects are never mutated, so windows of earlier ticks stay valid.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from controller.models.signals import SeriesData, Signal, float_array

Point = tuple[float, float]
Key = tuple[str, Signal]

EMPTY = SeriesData((), ())
"""The data of every series with no sample (shared: there is nothing in it to change)."""


def finite_points(points: Iterable[Point]) -> list[Point]:
    """Drop NaN and infinite samples (gaps, never zero), sort and de-duplicate by time."""
    by_time = {t: v for t, v in points if math.isfinite(t) and math.isfinite(v)}
    return sorted(by_time.items())


@dataclass(frozen=True, slots=True)
class Samples:
    """Fetched samples of one series: strictly increasing finite times, finite values.

    Built by ``parse_values`` (or ``of``), which guarantee that; nothing mutates the columns.
    """

    times: array[float]
    values: array[float]

    @classmethod
    def of(cls, points: Iterable[Point]) -> Samples:
        """From (time, value) pairs in any order: NaN/Inf dropped, the last value per time."""
        kept = finite_points(points)
        return cls(array("d", (t for t, _ in kept)), array("d", (v for _, v in kept)))

    def __len__(self) -> int:
        return len(self.times)

    def latest(self) -> Point | None:
        """The newest (time, value), or None."""
        return (self.times[-1], self.values[-1]) if self.times else None


NO_SAMPLES = Samples(array("d"), array("d"))


def _columns(data: SeriesData) -> tuple[array[float], array[float]]:
    """The stored columns as arrays (SeriesData keeps them so; shared, never copied)."""
    return cast("array[float]", data.timestamps), cast("array[float]", data.values)


def same(a: array[float], b: array[float]) -> bool:
    """Equal columns, compared as bytes: ``==`` on arrays boxes every element (20x slower).

    Equal floats with unequal bytes (0.0 and -0.0) compare unequal: that only costs a
    rebuild or a copy, never a wrong answer.
    """
    return len(a) == len(b) and a.tobytes() == b.tobytes()


def spliced(
    old: SeriesData,
    start: float,
    end: float,
    fresh: Samples,
    horizon: float,
    until: float,
    grid: array[float] | None = None,
) -> SeriesData:
    """``fresh`` laid over ``old`` in [start, end], cut to [horizon, until]; ``old`` if same.

    Returns the very ``old`` object when nothing would change, so that its memo survives.
    Otherwise ``old.continued``: the kept head is copied with its prefix sums and only the
    new tail is checked and summed, so a tick costs O(new samples) per series, not
    O(lookback). ``grid``: an equal timestamps column to share, when there is one.
    """
    times, values = _columns(old)
    count = len(times)
    cut = bisect.bisect_left(times, horizon) if count and times[0] < horizon else 0
    lo = bisect.bisect_left(times, start, cut)
    hi = bisect.bisect_right(times, end, lo)
    stop = count if not count or times[-1] <= until else bisect.bisect_right(times, until, hi)
    lower, upper = max(start, horizon), min(end, until)
    new_times, new_values = fresh.times, fresh.values  # only read below, never mutated
    if new_times and not (lower <= new_times[0] and new_times[-1] <= upper):
        first = bisect.bisect_left(new_times, lower)
        last = bisect.bisect_right(new_times, upper, first)
        new_times, new_values = new_times[first:last], new_values[first:last]
    untouched = cut == 0 and stop == count
    if untouched and same(times[lo:hi], new_times) and same(values[lo:hi], new_values):
        return old
    if hi < stop:  # stored samples after the fetched range stay, after the fetched ones
        new_times, new_values = new_times + times[hi:stop], new_values + values[hi:stop]
    if cut == lo and not new_times:
        return EMPTY
    return old.continued(cut, lo, new_times, new_values, grid=grid)


class SeriesStore:
    """Samples per (workload key, signal), at most ``lookback`` seconds old."""

    def __init__(self, lookback: float) -> None:
        if lookback <= 0:
            raise ValueError("lookback must be positive")
        self.lookback = lookback
        self._series: dict[Key, SeriesData] = {}
        self._grid: array[float] = array("d")
        """The newest timestamps column built: series on the same step grid share it.

        Every series of a tick is evaluated on the same steps, so consecutive rebuilds
        mostly produce equal timestamp columns; sharing them saves a third of the store.
        Nothing mutates a stored column, so sharing is safe.
        """

    def _keep(self, key: Key, data: SeriesData) -> None:
        if data is EMPTY:
            self._series.pop(key, None)
            return
        self._series[key] = data
        if data.timestamps is not self._grid:
            self._grid = float_array(data.timestamps)

    def replace(
        self, key: Key, start: float, end: float, fresh: Samples, *, now: float | None = None
    ) -> None:
        """Make ``fresh`` the only samples of ``key`` within [start, end].

        With ``now``, samples older than the lookback go in the same rebuild (what
        ``trim(now)`` would do for this key, without a second copy).
        """
        horizon = -math.inf if now is None else now - self.lookback
        self._keep(key, spliced(self.data(key), start, end, fresh, horizon, math.inf, self._grid))

    def replace_all(
        self,
        signal: Signal,
        keys: Iterable[str],
        start: float,
        end: float,
        fetched: Mapping[str, Samples],
        now: float,
    ) -> None:
        """``replace(..., now=now)`` of ``signal`` for every key in ``keys``, in one loop.

        A workload missing from ``fetched`` has no samples in [start, end]. One loop with
        its lookups bound once, because a tick at 10,000 workloads makes 80,000 of these.
        """
        horizon = now - self.lookback
        stored, grid, inf = self._series, self._grid, math.inf
        for workload in keys:
            key = (workload, signal)
            old = stored.get(key, EMPTY)
            new = spliced(old, start, end, fetched.get(workload, NO_SAMPLES), horizon, inf, grid)
            if new is EMPTY:
                if old is not EMPTY:
                    del stored[key]
                continue
            stored[key] = new
            if new.timestamps is not grid:
                grid = float_array(new.timestamps)
        self._grid = grid

    def merged(self, key: Key, start: float, end: float, fresh: Samples) -> SeriesData:
        """What ``replace`` then ``trim(end)`` would leave of ``key``, without changing the store.

        For point reads: a fetched tail laid over the stored history of a watched series,
        cut to [end - lookback, end]; the store, and every later tick, never see it.
        """
        return spliced(self.data(key), start, end, fresh, end - self.lookback, end)

    def trim(self, now: float, signals: Collection[Signal] | None = None) -> None:
        """Forget samples older than the lookback, and series left empty.

        ``signals``: only theirs (the others were trimmed by ``replace(..., now=now)``).
        """
        if signals is not None and not signals:
            return
        horizon = now - self.lookback
        emptied: list[Key] = []
        for key, data in self._series.items():
            if signals is not None and key[1] not in signals:
                continue
            times = float_array(data.timestamps)
            cut = bisect.bisect_left(times, horizon)
            if cut == len(times):
                emptied.append(key)
            elif cut:
                self._series[key] = trimmed = data.continued(
                    cut, len(times), (), (), grid=self._grid
                )
                self._grid = float_array(trimmed.timestamps)
        for key in emptied:
            del self._series[key]

    def forget(self, keep: set[str] | frozenset[str]) -> None:
        """Drop every series of a workload that is no longer watched."""
        for key in [k for k in self._series if k[0] not in keep]:
            del self._series[key]

    def data(self, key: Key) -> SeriesData:
        """The stored samples of ``key`` (``EMPTY`` when none): the object windows share."""
        return self._series.get(key, EMPTY)

    def latest(self, key: Key) -> Point | None:
        """The newest stored (timestamp, value) of ``key``, or None."""
        data = self._series.get(key)
        if data is None:
            return None
        return data.timestamps[-1], data.values[-1]

    def __len__(self) -> int:
        return sum(len(data.timestamps) for data in self._series.values())
