"""A bounded log-scale latency histogram (the DDSketch idea, without collapsing).

Why log scale: latencies span six orders of magnitude (microseconds to minutes), and an SLO
cares about *relative* error ("p99 is 1.2 s, give or take 1%"), not absolute error. Bin ``i``
holds the values in ``(gamma**(i-1), gamma**i]`` and reports them as
``2 * gamma**i / (gamma + 1)``, which is within ``RELATIVE_ERROR`` of every value in the bin.

Bounds: values below ``MIN_SECONDS`` share one bin reported as 0 (absolute error < 1 µs);
values above ``MAX_SECONDS`` are clamped to it. Hence at most ``MAX_BINS`` bins per histogram,
whatever the input, and in practice a few dozen (bins are stored sparsely).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

RELATIVE_ERROR = 0.01
"""Upper bound of |reported - exact| / exact for a quantile value in [MIN_SECONDS, MAX_SECONDS]."""

MIN_SECONDS = 1e-6
MAX_SECONDS = 86_400.0

_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_ZERO_BIN = -(2**31)
_MAX_INDEX = math.ceil(math.log(MAX_SECONDS) / _LOG_GAMMA)
_MIN_INDEX = math.ceil(math.log(MIN_SECONDS) / _LOG_GAMMA)

MAX_BINS = _MAX_INDEX - _MIN_INDEX + 2
"""Hard bound on the number of bins one histogram can hold (the memory bound)."""


def bin_index(seconds: float) -> int:
    """The bin a latency falls into (clamped to the histogram's range)."""
    if not seconds >= MIN_SECONDS:  # also catches NaN
        return _ZERO_BIN
    value = min(seconds, MAX_SECONDS)
    return max(_MIN_INDEX, min(_MAX_INDEX, math.ceil(math.log(value) / _LOG_GAMMA)))


def bin_value(index: int) -> float:
    """The value reported for every latency in bin ``index``."""
    if index == _ZERO_BIN:
        return 0.0
    return 2 * _GAMMA**index / (_GAMMA + 1)


class LogHistogram:
    """Counts of latencies per log-scale bin; mergeable, so windows are sums of buckets."""

    __slots__ = ("_bins", "_count")

    def __init__(self) -> None:
        self._bins: dict[int, int] = {}
        self._count = 0

    @property
    def count(self) -> int:
        """Number of values recorded."""
        return self._count

    def add(self, seconds: float) -> None:
        """Record one latency."""
        index = bin_index(seconds)
        self._bins[index] = self._bins.get(index, 0) + 1
        self._count += 1

    def merge(self, other: LogHistogram) -> None:
        """Add every value of ``other`` to this histogram."""
        for index, count in other._bins.items():
            self._bins[index] = self._bins.get(index, 0) + count
        self._count += other._count

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile (the smallest value with at least ``q`` of the values at or
        below it), within RELATIVE_ERROR; None when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        if self._count == 0:
            return None
        rank = max(1, math.ceil(q * self._count))
        seen = 0
        for index in sorted(self._bins):
            seen += self._bins[index]
            if seen >= rank:
                return bin_value(index)
        raise AssertionError("unreachable: ranks never exceed the count")  # pragma: no cover


def merged(histograms: Iterable[LogHistogram]) -> LogHistogram:
    """A new histogram holding every value of ``histograms``."""
    total = LogHistogram()
    for histogram in histograms:
        total.merge(histogram)
    return total
