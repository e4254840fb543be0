"""The rolling sample store: parsing Prometheus values, replacing fetched ranges, trimming,
merging a tail into a copy for point reads, and keeping unchanged series as they were."""

from __future__ import annotations

import pytest

from controller.models.signals import Signal
from controller.observers.prometheus_answers import parse_values
from controller.observers.prometheus_http import UnexpectedAnswer
from controller.observers.series_store import EMPTY, Samples, SeriesStore

KEY = ("shop/web", Signal.REQUEST_RATE)


def pts(*points: tuple[float, float]) -> Samples:
    return Samples.of(points)


def times(store: SeriesStore, key: tuple[str, Signal] = KEY) -> list[float]:
    return list(store.data(key).timestamps)


@pytest.mark.parametrize(
    ("values", "kept", "dropped"),
    [
        ([[30, "1.5"], [60, "2"]], [(30.0, 1.5), (60.0, 2.0)], 0),
        ([[30, "NaN"], [60, "+Inf"], [90, "-Inf"], [120, "0"]], [(120.0, 0.0)], 3),
        ([[90, "3"], [30, "1"], [60, "2"]], [(30.0, 1.0), (60.0, 2.0), (90.0, 3.0)], 0),
        ([[30, "1"], [30, "2"]], [(30.0, 2.0)], 0),
        ([], [], 0),
    ],
)
def test_parse_values_keeps_finite_samples_only(
    values: list[list[object]], kept: list[tuple[float, float]], dropped: int
) -> None:
    samples, lost = parse_values(values)
    assert list(zip(samples.times, samples.values, strict=True)) == kept
    assert lost == dropped


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"30": "1"}, "values is an object"),
        ([[30, "garbage"]], "values[0] is an array"),
        ([[30, "1"], [60]], "values[1] is an array"),
        ([[30, "1"], None], "values[1] is null"),
        ([["30", "1"]], "values[0] is an array"),
        ([[10**400, "1"]], "values[0] is an array"),
    ],
)
def test_values_of_the_wrong_shape_are_an_unexpected_answer(values: object, where: str) -> None:
    with pytest.raises(UnexpectedAnswer, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_values(values)


def test_a_fetched_range_replaces_what_the_store_held_there() -> None:
    store = SeriesStore(lookback=3600)
    store.replace(KEY, 0, 120, pts((0, 1.0), (30, 1.0), (60, 1.0), (90, 1.0), (120, 1.0)))
    store.replace(KEY, 90, 180, pts((90, 2.0), (150, 2.0), (180, 2.0)))
    data = store.data(KEY)
    assert list(data.timestamps) == [0, 30, 60, 90, 150, 180]
    assert list(data.values) == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert store.latest(KEY) == (180, 2.0)


def test_points_outside_the_fetched_range_are_ignored() -> None:
    store = SeriesStore(lookback=3600)
    store.replace(KEY, 60, 120, pts((30, 9.0), (60, 1.0), (150, 9.0)))
    assert times(store) == [60]


def test_trim_forgets_samples_older_than_the_lookback() -> None:
    store = SeriesStore(lookback=100)
    store.replace(KEY, 0, 300, pts(*[(t, float(t)) for t in range(0, 301, 30)]))
    store.trim(now=300)
    assert times(store) == [210, 240, 270, 300]
    store.trim(now=310)  # 210 is exactly the horizon: kept
    assert times(store) == [210, 240, 270, 300]
    store.trim(now=1000)
    assert store.latest(KEY) is None
    assert len(store) == 0


def test_replace_with_now_trims_in_the_same_rebuild() -> None:
    store = SeriesStore(lookback=100)
    store.replace(KEY, 0, 270, pts(*[(t, 1.0) for t in range(0, 271, 30)]))
    store.replace(KEY, 240, 300, pts((240, 2.0), (270, 2.0), (300, 2.0)), now=300)
    assert times(store) == [210, 240, 270, 300]
    assert list(store.data(KEY).values) == [1.0, 2.0, 2.0, 2.0]


def test_forget_drops_workloads_no_longer_watched() -> None:
    store = SeriesStore(lookback=100)
    other = ("pay/api", Signal.REQUEST_RATE)
    store.replace(KEY, 0, 30, pts((30, 1.0)))
    store.replace(other, 0, 30, pts((30, 1.0)))
    store.forget({"pay/api"})
    assert store.latest(KEY) is None
    assert store.latest(other) == (30, 1.0)


def test_merged_lays_a_tail_over_a_copy_and_leaves_the_store_alone() -> None:
    store = SeriesStore(lookback=100)
    store.replace(KEY, 0, 120, pts(*[(t, 1.0) for t in range(0, 121, 30)]))
    merged = store.merged(KEY, 90, 180, pts((90, 2.0), (150, 2.0), (180, 2.0)))
    assert list(merged.timestamps) == [90, 150, 180]  # 0..60 fall out of [180 - 100, 180]
    assert list(merged.values) == [2.0, 2.0, 2.0]
    assert times(store) == [0, 30, 60, 90, 120]
    assert list(store.data(KEY).values) == [1.0] * 5
    unknown = ("pay/api", Signal.RESTARTS)
    assert list(store.merged(unknown, 0, 60, pts((30, 3.0))).timestamps) == [30]
    assert store.latest(unknown) is None


def test_an_unchanged_series_keeps_its_data_object_and_memo() -> None:
    store = SeriesStore(lookback=3600)
    store.replace(KEY, 0, 120, pts(*[(t, 1.0) for t in range(0, 121, 30)]), now=120)
    before = store.data(KEY)
    before.memo["detector"] = "fact"
    store.replace(KEY, 90, 125, pts((90, 1.0), (120, 1.0)), now=125)  # same step again
    store.trim(125)
    assert store.data(KEY) is before and before.memo == {"detector": "fact"}
    store.replace(KEY, 120, 150, pts((120, 1.0), (150, 1.0)), now=150)
    after = store.data(KEY)
    assert after is not before and list(after.timestamps)[-2:] == [120, 150]
    assert list(before.timestamps) == [0, 30, 60, 90, 120]  # earlier windows stay valid


def test_a_series_without_samples_is_the_shared_empty_data() -> None:
    store = SeriesStore(lookback=3600)
    store.replace(KEY, 0, 120, pts(), now=120)
    assert store.data(KEY) is EMPTY and len(store) == 0
    store.replace(KEY, 0, 120, pts((60, 1.0)), now=120)
    store.replace(KEY, 30, 120, pts(), now=120)
    assert store.data(KEY) is EMPTY


def test_lookback_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SeriesStore(lookback=0)


def test_replace_all_is_replace_for_every_key() -> None:
    keys = ["shop/web", "pay/api", "gone/x"]
    one, many = SeriesStore(lookback=100), SeriesStore(lookback=100)
    for store in (one, many):
        for key in keys[:2]:
            store.replace((key, Signal.REQUEST_RATE), 0, 90, pts(*[(t, 1.0) for t in (30, 60, 90)]))
    fetched = {"shop/web": pts((90, 2.0), (120, 3.0)), "gone/x": pts((120, 5.0))}
    for key in keys:
        one.replace((key, Signal.REQUEST_RATE), 90, 120, fetched.get(key, Samples.of([])), now=120)
    many.replace_all(Signal.REQUEST_RATE, keys, 90, 120, fetched, 120)
    for key in keys:
        a, b = one.data((key, Signal.REQUEST_RATE)), many.data((key, Signal.REQUEST_RATE))
        assert (list(a.timestamps), list(a.values)) == (list(b.timestamps), list(b.values))
    assert list(many.data(("pay/api", Signal.REQUEST_RATE)).timestamps) == [30, 60]
    assert list(many.data(("shop/web", Signal.REQUEST_RATE)).values) == [1.0, 1.0, 2.0, 3.0]


def test_trim_of_some_signals_leaves_the_others() -> None:
    store = SeriesStore(lookback=100)
    other = ("shop/web", Signal.RESTARTS)
    for key in (KEY, other):
        store.replace(key, 0, 300, pts(*[(t, 1.0) for t in range(0, 301, 30)]))
    store.trim(now=300, signals=[Signal.RESTARTS])
    assert times(store) == list(range(0, 301, 30))
    assert times(store, other) == [210, 240, 270, 300]
    store.trim(now=300, signals=[])
    assert times(store) == list(range(0, 301, 30))
