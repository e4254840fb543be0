"""Signals, observations and time-series windows.

A failed or empty query is data (``health=no_data|error``), never "healthy" and never zero.
"""

from __future__ import annotations

import bisect
import math
import operator
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import accumulate
from typing import cast

from pydantic import Field

from controller.models.base import FrozenModel, UtcDatetime, epoch, from_epoch
from controller.models.workloads import WorkloadRef


class Signal(StrEnum):
    """The per-workload signals detection understands, with a canonical unit each."""

    REQUEST_RATE = "request_rate"
    ERROR_RATIO = "error_ratio"
    LATENCY_P50 = "latency_p50"
    LATENCY_P99 = "latency_p99"
    CPU_SATURATION = "cpu_saturation"
    MEMORY_SATURATION = "memory_saturation"
    RESTARTS = "restarts"
    REPLICAS_AVAILABLE = "replicas_available"


CANONICAL_UNITS: dict[Signal, str] = {
    Signal.REQUEST_RATE: "1/s",
    Signal.ERROR_RATIO: "ratio",
    Signal.LATENCY_P50: "s",
    Signal.LATENCY_P99: "s",
    Signal.CPU_SATURATION: "ratio",
    Signal.MEMORY_SATURATION: "ratio",
    Signal.RESTARTS: "count",
    Signal.REPLICAS_AVAILABLE: "count",
}
"""Unit every signal is normalised to; other accepted units convert by a factor."""

UNIT_FACTORS: dict[str, dict[str, float]] = {
    "1/s": {"1/s": 1.0, "1/min": 1 / 60},
    "ratio": {"ratio": 1.0, "percent": 0.01},
    "s": {"s": 1.0, "ms": 0.001},
    "count": {"count": 1.0},
}
"""For each canonical unit, the accepted spellings and their factor to the canonical one."""


class Health(StrEnum):
    """How trustworthy one observation is."""

    OK = "ok"
    NO_DATA = "no_data"
    ERROR = "error"


class Observation(FrozenModel):
    """The latest value of one signal of one workload, with where it came from and its age."""

    workload: WorkloadRef
    signal: Signal
    source: str = Field(description="Backend and query, e.g. 'recorded:error_ratio'.")
    observed_at: UtcDatetime = Field(description="When the controller asked.")
    sample_at: UtcDatetime | None = Field(default=None, description="Time of the newest sample.")
    value: float | None = None
    health: Health
    message: str = ""

    @property
    def age_seconds(self) -> float | None:
        """Seconds between the newest sample and the question; None when there is no sample."""
        if self.sample_at is None:
            return None
        return (self.observed_at - self.sample_at).total_seconds()


def float_array(numbers: Iterable[float]) -> array[float]:
    """The numbers as an ``array('d')``; an existing one is shared, not copied."""
    if isinstance(numbers, array) and numbers.typecode == "d":
        return numbers
    return array("d", numbers)


@dataclass(frozen=True, slots=True)
class SeriesData:
    """A whole recorded or queried series, sorted by time, with prefix sums for O(1) means.

    Missing samples are simply absent (a gap), never stored as zero. Timestamps, values and
    prefix sums are ``array('d')`` (a day of 15 s samples for 600 series is 28 MB per column
    instead of ~110 MB of float objects); nothing mutates them after construction, and an
    array passed in is shared, so series cut from one recording cost no copy.

    Equality compares timestamps and values (the prefix sums are derived from them). A series
    built by ``continued`` keeps its predecessor's prefix sums, whose base is then the sum of
    the samples that fell out; ``sum_between`` is a difference, so any base serves.
    """

    timestamps: Sequence[float]
    values: Sequence[float]
    _prefix: array[float] = field(init=False, repr=False, compare=False)
    memo: dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Facts a detector derived from these samples and keeps for the next tick (the data
    never changes, so they stay true); each key is owned by one detector module."""

    def __post_init__(self) -> None:
        timestamps, values = float_array(self.timestamps), float_array(self.values)
        if len(timestamps) != len(values):
            raise ValueError("timestamps and values differ in length")
        if not all(map(operator.lt, timestamps, timestamps[1:])):
            raise ValueError("timestamps must be strictly increasing")
        if not all(map(math.isfinite, values)):
            raise ValueError("values must be finite (use a gap for a missing sample)")
        object.__setattr__(self, "timestamps", timestamps)
        object.__setattr__(self, "values", values)
        # accumulate adds left to right exactly as the running loop it replaced did.
        object.__setattr__(self, "_prefix", array("d", accumulate(values, initial=0.0)))

    def continued(
        self,
        lo: int,
        hi: int,
        times: Sequence[float],
        values: Sequence[float],
        *,
        grid: array[float] | None = None,
    ) -> SeriesData:
        """Samples [lo, hi) of this series followed by ``times`` and ``values``.

        Why: a live store moves every series on by a few samples per tick, and the
        constructor would check and sum the whole window again (O(lookback) per series per
        tick: 1.9 s a tick at 10,000 workloads). Here the kept part, checked when this series
        was built and never mutated since, is copied (memcpy), and only the new samples and
        the seam are checked: O(len(times)) Python work. The kept prefix sums are reused and
        extended over the new values. They are summed afresh from 0, as the constructor does,
        once their base (the sum of the samples that fell out) outweighs the window's own
        total, so for a series of non-negative values the base never exceeds the sums it is
        subtracted from. ``grid``: an equal timestamps column to share instead of a new one
        (compared by bytes; nothing mutates a column, so sharing is safe).
        """
        head, kept = cast("array[float]", self.timestamps), cast("array[float]", self.values)
        if not 0 <= lo <= hi <= len(head):
            raise ValueError(f"[{lo}, {hi}) is not a range of {len(head)} samples")
        tail, fresh = float_array(times), float_array(values)
        if len(tail) != len(fresh):
            raise ValueError("timestamps and values differ in length")
        if tail and (
            (hi > lo and not head[hi - 1] < tail[0]) or not all(map(operator.lt, tail, tail[1:]))
        ):
            raise ValueError("timestamps must be strictly increasing")
        if not all(map(math.isfinite, fresh)):
            raise ValueError("values must be finite (use a gap for a missing sample)")
        stamps = head[lo:hi]
        stamps += tail
        if grid is not None and len(grid) == len(stamps) and grid.tobytes() == stamps.tobytes():
            stamps = grid
        kept = kept[lo:hi]
        kept += fresh
        prefix = self._prefix[lo : hi + 1]
        if fresh:
            sums = accumulate(fresh, initial=prefix[-1])
            next(sums)  # the initial value: the last kept sum
            prefix.extend(sums)
        base = prefix[0]
        if base and not abs(base) <= abs(prefix[-1] - base):  # also when a sum overflowed
            prefix = array("d", accumulate(kept, initial=0.0))
        return SeriesData._built(stamps, kept, prefix)

    @classmethod
    def _built(
        cls, timestamps: array[float], values: array[float], prefix: array[float]
    ) -> SeriesData:
        """A series from columns already checked and their prefix sums (no copy, no check)."""
        data = object.__new__(cls)
        object.__setattr__(data, "timestamps", timestamps)
        object.__setattr__(data, "values", values)
        object.__setattr__(data, "_prefix", prefix)
        object.__setattr__(data, "memo", {})
        return data

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float | None]]) -> SeriesData:
        """Build from (timestamp, value-or-None) pairs, dropping the gaps."""
        kept = [(t, v) for t, v in points if v is not None]
        return cls(array("d", (t for t, _ in kept)), array("d", (v for _, v in kept)))

    def index_range(self, start: float, end: float) -> tuple[int, int]:
        """Indices [lo, hi) of samples with start < t <= end."""
        lo = bisect.bisect_right(self.timestamps, start)
        hi = bisect.bisect_right(self.timestamps, end)
        return lo, hi

    def sum_between(self, lo: int, hi: int) -> float:
        """Sum of values[lo:hi] in O(1)."""
        return self._prefix[hi] - self._prefix[lo]


@dataclass(frozen=True, slots=True)
class SignalWindow:
    """What one observer can see of one signal at ``observed_at``: nothing after it.

    Detection reads history only through this view, so replay cannot look ahead.
    """

    workload: WorkloadRef
    signal: Signal
    source: str
    observed_at: float
    data: SeriesData
    health: Health = Health.OK
    message: str = ""
    visible: int = field(default=-1, repr=False, compare=False)
    """How many samples are visible at ``observed_at``: ``bisect_right(timestamps,
    observed_at)``, found once because detectors ask many questions. An observer that keeps
    a cursor per series passes it in; -1 (the default) means find it."""

    def __post_init__(self) -> None:
        if self.visible < 0:
            end = bisect.bisect_right(self.data.timestamps, self.observed_at)
            object.__setattr__(self, "visible", end)

    def _bounds(self, seconds: float) -> tuple[int, int]:
        end = self.observed_at
        if seconds < 0:
            return self.data.index_range(end - seconds, end)
        hi = self.visible
        return bisect.bisect_right(self.data.timestamps, end - seconds, 0, hi), hi

    def latest(self) -> tuple[float, float] | None:
        """The newest visible (timestamp, value), or None."""
        hi = self.visible
        if hi == 0:
            return None
        return self.data.timestamps[hi - 1], self.data.values[hi - 1]

    def age_seconds(self) -> float | None:
        """Age of the newest visible sample, or None without samples."""
        latest = self.latest()
        return None if latest is None else self.observed_at - latest[0]

    def count(self, seconds: float) -> int:
        """Number of samples in the last ``seconds``."""
        lo, hi = self._bounds(seconds)
        return hi - lo

    def mean(self, seconds: float) -> float | None:
        """Mean over the last ``seconds``; None when the window holds no sample."""
        lo, hi = self._bounds(seconds)
        if hi == lo:
            return None
        return self.data.sum_between(lo, hi) / (hi - lo)

    def points(self, seconds: float) -> list[tuple[float, float]]:
        """The (timestamp, value) samples of the last ``seconds``, oldest first."""
        lo, hi = self._bounds(seconds)
        return list(zip(self.data.timestamps[lo:hi], self.data.values[lo:hi], strict=True))

    def values(self, seconds: float) -> Sequence[float]:
        """The values of the last ``seconds``, oldest first."""
        lo, hi = self._bounds(seconds)
        return self.data.values[lo:hi]

    def coverage_seconds(self) -> float:
        """How far back the visible history reaches."""
        if self.visible == 0:
            return 0.0
        return self.observed_at - self.data.timestamps[0]

    def to_observation(self) -> Observation:
        """Summarise the window as its latest observation."""
        latest = self.latest()
        return Observation(
            workload=self.workload,
            signal=self.signal,
            source=self.source,
            observed_at=from_epoch(self.observed_at),
            sample_at=None if latest is None else from_epoch(latest[0]),
            value=None if latest is None else latest[1],
            health=self.health,
            message=self.message,
        )


def window_at(window: SignalWindow, now: datetime) -> SignalWindow:
    """The same series seen at another moment (used by replay to step the clock)."""
    return SignalWindow(
        workload=window.workload,
        signal=window.signal,
        source=window.source,
        observed_at=epoch(now),
        data=window.data,
        health=window.health,
        message=window.message,
    )
