"""The rolling per-(workload, signal) sample store behind incremental Prometheus queries.

Each tick refetches only the tail of every series; the newly fetched range is authoritative
(it replaces whatever the store held in that range, so a late-arriving sample or a revised
rate overwrites the old one) and anything older than the lookback is dropped. Pure: no I/O.

Why it keeps ``SeriesData`` rather than lists: windows hand out exactly what is stored, so a
tick builds a ``SeriesData`` only for a series whose samples changed. One that did not (a
tick within the same evaluation step, a workload absent from the answer) keeps its object,
and with it the memo detectors left there. A change copies the kept part of the old columns
(an ``array`` slice: one memcpy), appends the fetched tail and drops what fell out of the
lookback, in a single rebuild; no Python float list is ever rebuilt. Stored objects are never
mutated, so windows of earlier ticks stay valid.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
    return float_array(data.timestamps), float_array(data.values)


def _own(times: array[float]) -> array[float]:
    return times


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
    share: Callable[[array[float]], array[float]] = _own,
) -> SeriesData:
    """``fresh`` laid over ``old`` in [start, end], cut to [horizon, until]; ``old`` if same.

    Returns the very ``old`` object when nothing would change, so that its memo survives.
    ``share`` may swap the new timestamps column for an equal one already built.
    """
    times, values = _columns(old)
    cut = bisect.bisect_left(times, horizon)
    lo = max(cut, bisect.bisect_left(times, start))
    hi = max(lo, bisect.bisect_right(times, end))
    stop = max(hi, bisect.bisect_right(times, until))
    first = bisect.bisect_left(fresh.times, max(start, horizon))
    last = max(first, bisect.bisect_right(fresh.times, min(end, until)))
    new_times, new_values = fresh.times[first:last], fresh.values[first:last]
    untouched = cut == 0 and stop == len(times)
    if untouched and same(times[lo:hi], new_times) and same(values[lo:hi], new_values):
        return old
    if cut == lo and hi == stop and first == 0 and last == len(fresh):
        return SeriesData(share(fresh.times), fresh.values) if len(fresh) else EMPTY
    kept_times, kept_values = times[cut:lo], values[cut:lo]
    kept_times += new_times
    kept_values += new_values
    kept_times += times[hi:stop]
    kept_values += values[hi:stop]
    return SeriesData(share(kept_times), kept_values) if kept_times else EMPTY


class SeriesStore:
    """Samples per (workload key, signal), at most ``lookback`` seconds old."""

    def __init__(self, lookback: float) -> None:
        if lookback <= 0:
            raise ValueError("lookback must be positive")
        self.lookback = lookback
        self._series: dict[Key, SeriesData] = {}
        self._grid: array[float] = array("d")
        """The newest timestamps column built: series on the same step grid share it."""

    def _share(self, times: array[float]) -> array[float]:
        """``times`` itself, or the equal column built just before (one copy per grid).

        Every series of a tick is evaluated on the same steps, so consecutive rebuilds
        mostly produce equal timestamp columns; sharing them saves a third of the store.
        Nothing mutates a stored column, so sharing is safe.
        """
        grid = self._grid
        if same(times, grid):
            return grid
        self._grid = times
        return times

    def _keep(self, key: Key, data: SeriesData) -> None:
        if data is EMPTY:
            self._series.pop(key, None)
        else:
            self._series[key] = data

    def replace(
        self, key: Key, start: float, end: float, fresh: Samples, *, now: float | None = None
    ) -> None:
        """Make ``fresh`` the only samples of ``key`` within [start, end].

        With ``now``, samples older than the lookback go in the same rebuild (what
        ``trim(now)`` would do for this key, without a second copy).
        """
        horizon = -math.inf if now is None else now - self.lookback
        self._keep(key, spliced(self.data(key), start, end, fresh, horizon, math.inf, self._share))

    def merged(self, key: Key, start: float, end: float, fresh: Samples) -> SeriesData:
        """What ``replace`` then ``trim(end)`` would leave of ``key``, without changing the store.

        For point reads: a fetched tail laid over the stored history of a watched series,
        cut to [end - lookback, end]; the store, and every later tick, never see it.
        """
        return spliced(self.data(key), start, end, fresh, end - self.lookback, end)

    def trim(self, now: float) -> None:
        """Forget samples older than the lookback, and series left empty."""
        horizon = now - self.lookback
        emptied: list[Key] = []
        for key, data in self._series.items():
            times, values = _columns(data)
            cut = bisect.bisect_left(times, horizon)
            if cut == len(times):
                emptied.append(key)
            elif cut:
                self._series[key] = SeriesData(self._share(times[cut:]), values[cut:])
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
