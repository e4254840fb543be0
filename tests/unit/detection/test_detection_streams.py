"""Per-series facts carried between ticks (``controller/detection/streams.py``) equal the plain
computation over the slice they summarise, whatever order the slices are asked in.

The plain computations (a slice's ``max``, ``min``, smallest time gap; a walk for the newest
change of value) are the oracle; the answers are compared bit for bit (``math.copysign``
tells 0.0 from -0.0, which ``==`` does not).
"""

from __future__ import annotations

import math
from operator import sub

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.detection.streams import NO_CHANGE, flat_since, newest_change, window_extremes
from controller.models.signals import SeriesData

T0 = 1_772_366_400.0


@st.composite
def series(draw: st.DrawFn) -> SeriesData:
    """Strictly increasing times (mostly 15 s apart) and values with many ties and signed zeros."""
    size = draw(st.integers(2, 80))
    gaps = draw(
        st.lists(st.sampled_from([15.0, 15.0, 30.0, 0.5, 61.0]), min_size=size, max_size=size)
    )
    times = [T0 + sum(gaps[: i + 1]) for i in range(size)]
    pool = st.sampled_from([0.0, -0.0, 1.0, 1.0, 2.5, -3.0, 1e-300, 7.0])
    values = draw(st.lists(pool, min_size=size, max_size=size))
    return SeriesData(times, values)


def same(a: float, b: float) -> bool:
    """Bitwise-equal floats (0.0 and -0.0 differ)."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@settings(max_examples=300, deadline=None)
@given(
    series(), st.lists(st.tuples(st.integers(0, 80), st.integers(2, 30)), min_size=1, max_size=30)
)
def test_window_extremes_equal_the_slice(data: SeriesData, asks: list[tuple[int, int]]) -> None:
    count = len(data.values)
    # Mostly forward, as ticks go; the generated pairs also step back and jump.
    for start, length in sorted(asks[: len(asks) // 2]) + asks[len(asks) // 2 :]:
        lo = min(start, count - 2)
        hi = min(lo + length, count)
        top, bottom, gap = window_extremes(data, lo, hi, "test")
        values, times = data.values[lo:hi], data.timestamps[lo:hi]
        assert same(top, max(values))
        assert same(bottom, min(values))
        assert same(gap, min(map(sub, times[1:], times)))


@settings(max_examples=300, deadline=None)
@given(series(), st.lists(st.integers(0, 80), min_size=1, max_size=30))
def test_newest_change_and_flat_since_equal_a_walk(data: SeriesData, visibles: list[int]) -> None:
    count = len(data.values)
    for visible in sorted(visibles[:-3]) + visibles[-3:]:
        visible = min(visible, count)
        walked = next(
            (j for j in range(visible - 1, 0, -1) if data.values[j] != data.values[j - 1]), 0
        )
        assert newest_change(data, visible) == walked
        since = flat_since(data, visible)
        assert since == (NO_CHANGE if walked == 0 else data.timestamps[walked - 1])
        timestamps = data.timestamps
        for lo in range(visible):
            start = timestamps[lo] - 0.25  # a window whose oldest sample is ``lo`` (gaps >= 0.5 s)
            window = data.values[lo:visible]
            assert (since <= start) == (max(window) == min(window))
