"""SeriesData.continued: a live store's O(new samples) successor of a series (issue 10).

It must be the series the constructor would build from the same samples (equal columns,
sums within rounding), check what is new exactly as the constructor checks everything,
and keep its prefix sums' base bounded however many ticks it moves on.
"""

from __future__ import annotations

import math
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.models.signals import SeriesData

values_st = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


def fresh(times: list[float], values: list[float]) -> SeriesData:
    return SeriesData(array("d", times), array("d", values))


@given(
    st.lists(values_st, max_size=40),
    st.data(),
)
def test_continued_is_the_series_the_constructor_builds(values: list[float], data) -> None:
    times = [30.0 * i for i in range(len(values))]
    old = fresh(times, values)
    lo = data.draw(st.integers(0, len(values)))
    hi = data.draw(st.integers(lo, len(values)))
    extra = data.draw(st.lists(values_st, max_size=5))
    start = times[hi - 1] + 30.0 if hi > lo else 0.0
    new_times = [start + 30.0 * i for i in range(len(extra))]
    new = old.continued(lo, hi, new_times, extra)
    expected = fresh(times[lo:hi] + new_times, values[lo:hi] + extra)
    assert new == expected
    assert list(new.timestamps) == list(expected.timestamps)
    for a in range(len(new.values) + 1):
        for b in range(a, len(new.values) + 1):
            exact = math.fsum(new.values[a:b])
            assert new.sum_between(a, b) == pytest.approx(exact, rel=1e-9, abs=1e-6)


def test_a_long_run_of_ticks_keeps_the_prefix_base_bounded() -> None:
    data = fresh([30.0 * i for i in range(120)], [1.5] * 120)
    for tick in range(1000):
        at = 30.0 * (120 + tick)
        data = data.continued(1, len(data.timestamps), [at], [1.5])
        base, last = data._prefix[0], data._prefix[-1]
        assert abs(base) <= abs(last - base)
    assert len(data.timestamps) == 120
    assert data.sum_between(0, 120) == pytest.approx(180.0, rel=1e-12)
    assert data.sum_between(10, 20) == pytest.approx(15.0, rel=1e-12)


def test_continued_checks_the_new_samples_and_the_seam() -> None:
    data = fresh([0.0, 30.0, 60.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        data.continued(0, 3, [60.0], [1.0])  # the seam: not after the kept 60
    with pytest.raises(ValueError, match="strictly increasing"):
        data.continued(0, 3, [90.0, 90.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        data.continued(0, 3, [90.0], [math.nan])
    with pytest.raises(ValueError, match="differ in length"):
        data.continued(0, 3, [90.0], [])
    with pytest.raises(ValueError, match="not a range"):
        data.continued(2, 1, [], [])
    assert list(data.continued(1, 2, [60.0], [9.0]).values) == [2.0, 9.0]  # 60 after 30


def test_continued_shares_an_equal_grid_and_starts_a_fresh_memo() -> None:
    data = fresh([0.0, 30.0, 60.0], [1.0, 2.0, 3.0])
    data.memo["detector"] = "fact"
    grid = array("d", [30.0, 60.0, 90.0])
    new = data.continued(1, 3, [90.0], [4.0], grid=grid)
    assert new.timestamps is grid and new.memo == {}
    other = data.continued(1, 3, [120.0], [4.0], grid=grid)
    assert other.timestamps is not grid and list(other.timestamps) == [30.0, 60.0, 120.0]
    assert list(data.timestamps) == [0.0, 30.0, 60.0]  # the old series is never changed
