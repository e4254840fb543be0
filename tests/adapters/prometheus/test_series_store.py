"""The rolling sample store: parsing Prometheus values, replacing fetched ranges, trimming,
and merging a tail into a copy for point reads."""

from __future__ import annotations

import pytest

from controller.models.signals import Signal
from controller.observers.series_store import SeriesStore, parse_values

KEY = ("shop/web", Signal.REQUEST_RATE)


@pytest.mark.parametrize(
    ("values", "kept", "dropped"),
    [
        ([[30, "1.5"], [60, "2"]], [(30.0, 1.5), (60.0, 2.0)], 0),
        ([[30, "NaN"], [60, "+Inf"], [90, "-Inf"], [120, "0"]], [(120.0, 0.0)], 3),
        ([[30, "garbage"], [60]], [], 2),
        ([[90, "3"], [30, "1"], [60, "2"]], [(30.0, 1.0), (60.0, 2.0), (90.0, 3.0)], 0),
        ([], [], 0),
    ],
)
def test_parse_values_keeps_finite_samples_only(
    values: list[list[object]], kept: list[tuple[float, float]], dropped: int
) -> None:
    assert parse_values(values) == (kept, dropped)


def test_a_fetched_range_replaces_what_the_store_held_there() -> None:
    store = SeriesStore(lookback=3600)
    store.replace(KEY, 0, 120, [(0, 1.0), (30, 1.0), (60, 1.0), (90, 1.0), (120, 1.0)])
    store.replace(KEY, 90, 180, [(90, 2.0), (150, 2.0), (180, 2.0)])
    data = store.data(KEY)
    assert tuple(data.timestamps) == (0, 30, 60, 90, 150, 180)
    assert tuple(data.values) == (1.0, 1.0, 1.0, 2.0, 2.0, 2.0)
    assert store.latest(KEY) == (180, 2.0)


def test_points_outside_the_fetched_range_are_ignored() -> None:
    store = SeriesStore(lookback=3600)
    store.replace(KEY, 60, 120, [(30, 9.0), (60, 1.0), (150, 9.0)])
    assert tuple(store.data(KEY).timestamps) == (60,)


def test_trim_forgets_samples_older_than_the_lookback() -> None:
    store = SeriesStore(lookback=100)
    store.replace(KEY, 0, 300, [(t, float(t)) for t in range(0, 301, 30)])
    store.trim(now=300)
    assert tuple(store.data(KEY).timestamps) == (210, 240, 270, 300)
    store.trim(now=1000)
    assert store.latest(KEY) is None
    assert len(store) == 0


def test_forget_drops_workloads_no_longer_watched() -> None:
    store = SeriesStore(lookback=100)
    other = ("pay/api", Signal.REQUEST_RATE)
    store.replace(KEY, 0, 30, [(30, 1.0)])
    store.replace(other, 0, 30, [(30, 1.0)])
    store.forget({"pay/api"})
    assert store.latest(KEY) is None
    assert store.latest(other) == (30, 1.0)


def test_merged_lays_a_tail_over_a_copy_and_leaves_the_store_alone() -> None:
    store = SeriesStore(lookback=100)
    store.replace(KEY, 0, 120, [(t, 1.0) for t in range(0, 121, 30)])
    merged = store.merged(KEY, 90, 180, [(90, 2.0), (150, 2.0), (180, 2.0)])
    assert tuple(merged.timestamps) == (90, 150, 180)  # 0..60 fall out of [180 - 100, 180]
    assert tuple(merged.values) == (2.0, 2.0, 2.0)
    assert tuple(store.data(KEY).timestamps) == (0, 30, 60, 90, 120)
    assert tuple(store.data(KEY).values) == (1.0,) * 5
    unknown = ("pay/api", Signal.RESTARTS)
    assert tuple(store.merged(unknown, 0, 60, [(30, 3.0)]).timestamps) == (30,)
    assert store.latest(unknown) is None


def test_lookback_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SeriesStore(lookback=0)
