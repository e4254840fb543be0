"""Facts about a series kept in its ``SeriesData.memo`` and advanced by the new samples only.

Recorded and queried series never change once built, and ticks mostly move forward by one
sample, so a fact about "the visible samples" can be carried from one tick to the next and
updated by the samples that arrived since, instead of being recomputed over a window. Each
function answers for any ``visible`` (an earlier one, as a replay that steps back would ask,
falls back to a search that leaves the memo alone), so the memo only ever saves work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.models.signals import SeriesData

NO_CHANGE = float("-inf")
"""``flat_since`` of a series whose visible values are all equal."""


@dataclass(slots=True)
class _NewestChange:
    """The newest index ``j < upto`` with ``values[j] != values[j - 1]`` (0: none)."""

    upto: int = 1
    index: int = 0


_FLAT = ("streams.newest_change",)


def newest_change(data: SeriesData, visible: int) -> int:
    """The newest index ``j < visible`` whose value differs from the one before (0: none)."""
    memo = data.memo.get(_FLAT)
    if not isinstance(memo, _NewestChange):
        memo = _NewestChange()
        data.memo[_FLAT] = memo
    values = data.values
    if visible < memo.upto:
        if memo.index < visible:
            return memo.index
        return _search_back(values, visible)
    index = memo.index
    for j in range(memo.upto, visible):
        if values[j] != values[j - 1]:
            index = j
    memo.upto, memo.index = visible, index
    return index


def _search_back(values: Sequence[float], visible: int) -> int:
    """``newest_change`` without the memo, walking back from ``visible`` (a step back)."""
    for j in range(visible - 1, 0, -1):
        if values[j] != values[j - 1]:
            return j
    return 0


def flat_since(data: SeriesData, visible: int) -> float:
    """The time of the sample just before the newest change of value among the visible ones.

    Every visible sample later than this time has the same value; ``NO_CHANGE`` when all
    visible values are equal. A slice of samples with times ``> start`` is flat (its max
    equals its min) exactly when ``flat_since(...) <= start``.
    """
    index = newest_change(data, visible)
    return NO_CHANGE if index == 0 else data.timestamps[index - 1]


@dataclass(slots=True)
class _Extremes:
    """Monotonic queues over the slice ``[lo, hi)``: candidates for its max, its min and its
    smallest time gap (gap ``i`` is ``timestamps[i] - timestamps[i - 1]``, for ``i > lo``).

    Each queue holds indices in ascending order; an index leaves only when a later sample
    beats it strictly, so among equal values the front is the earliest one, exactly the
    element ``max``/``min`` of the slice return.
    """

    lo: int
    hi: int
    tops: deque[int] = field(default_factory=deque)
    bottoms: deque[int] = field(default_factory=deque)
    gaps: deque[int] = field(default_factory=deque)


def _push(memo: _Extremes, values: Sequence[float], times: Sequence[float], end: int) -> None:
    """Admit the samples ``[memo.hi, end)`` to the queues."""
    tops, bottoms, gaps = memo.tops, memo.bottoms, memo.gaps
    for index in range(memo.hi, end):
        value = values[index]
        while tops and values[tops[-1]] < value:
            tops.pop()
        tops.append(index)
        while bottoms and values[bottoms[-1]] > value:
            bottoms.pop()
        bottoms.append(index)
        if index > memo.lo:
            gap = times[index] - times[index - 1]
            while gaps and times[gaps[-1]] - times[gaps[-1] - 1] > gap:
                gaps.pop()
            gaps.append(index)
    memo.hi = max(memo.hi, end)


def _evict(memo: _Extremes, lo: int) -> None:
    """Drop the samples before ``lo`` (and the gap that ends at ``lo``)."""
    tops, bottoms, gaps = memo.tops, memo.bottoms, memo.gaps
    while tops[0] < lo:
        tops.popleft()
    while bottoms[0] < lo:
        bottoms.popleft()
    while gaps[0] <= lo:
        gaps.popleft()
    memo.lo = lo


def window_extremes(data: SeriesData, lo: int, hi: int, key: object) -> tuple[float, float, float]:
    """``(max(values[lo:hi]), min(values[lo:hi]), min(timestamps[i] - timestamps[i - 1]))``
    over ``lo < i < hi``, for ``hi - lo >= 2``: the very elements and differences a slice would
    give, from queues kept under ``key`` in the series' memo.

    A slice that moved forward (both ends at or after the last one, overlapping it) costs the
    samples that entered and left it; any other slice rebuilds the queues from its own
    samples. The queues never empty: the newest sample (``hi - 1``) and the newest gap stay.
    """
    memo = data.memo.get(key)
    if not isinstance(memo, _Extremes) or lo < memo.lo or hi < memo.hi or lo >= memo.hi:
        memo = _Extremes(lo=lo, hi=lo)
        data.memo[key] = memo
    values, times = data.values, data.timestamps
    if hi > memo.hi:
        _push(memo, values, times, hi)
    if lo > memo.lo:
        _evict(memo, lo)
    gap = memo.gaps[0]
    return values[memo.tops[0]], values[memo.bottoms[0]], times[gap] - times[gap - 1]
