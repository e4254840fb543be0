"""collect's inline reading of the common series is parse_values' reading (issue 10).

collect reads the usual series (string labels, sorted finite [time, "value"] pairs) without
calling parse_values; anything else goes to parse_values. Both must give the same samples,
the same dropped counts and the same errors, whatever the answer holds.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.models.signals import Signal
from controller.observers.prometheus_answers import NamedQuery, collect, parse_values
from controller.observers.prometheus_http import QueryRange, UnexpectedAnswer

QUERY = NamedQuery.of(Signal.REQUEST_RATE, "up")
SPAN = QueryRange(0, 600, 30)
KEY = "shop/web"

times_st = st.one_of(st.integers(0, 600), st.floats(allow_nan=True), st.text(max_size=2), st.none())
values_st = st.one_of(
    st.sampled_from(["1", "0.5", "NaN", "+Inf", "-Inf", "1e308", "x", ""]),
    st.floats(allow_nan=True),
    st.integers(-5, 5),
    st.none(),
)
pair_st = st.one_of(
    st.tuples(times_st, values_st).map(list),
    st.lists(times_st, max_size=3),
    st.none(),
    st.text(max_size=2),
)
values_list_st = st.one_of(
    st.lists(st.tuples(st.integers(0, 600), values_st).map(list), max_size=6),
    st.lists(pair_st, max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.text(max_size=3),
    st.none(),
)


def outcome(run: Any) -> tuple[str, Any]:
    try:
        return "ok", run()
    except UnexpectedAnswer as exc:
        return "error", str(exc)


@given(values_list_st)
def test_collect_reads_every_values_list_as_parse_values_does(values: Any) -> None:
    item = {"metric": {"namespace": "shop", "workload": "web"}, "values": values}

    def via_collect() -> tuple[list[float], list[float], int]:
        answer = collect(QUERY, SPAN, [item], frozenset({KEY}))
        samples = answer.series[KEY]
        return list(samples.times), list(samples.values), answer.dropped.get(KEY, 0)

    def via_parse() -> tuple[list[float], list[float], int]:
        samples, dropped = parse_values(values)
        return list(samples.times), list(samples.values), dropped

    got, expected = outcome(via_collect), outcome(via_parse)
    if expected[0] == "error":
        assert got == ("error", f"data.result[0].{expected[1]}")
    else:
        assert got == expected


@pytest.mark.parametrize(
    "metric",
    [{"namespace": "shop"}, {"namespace": 1, "workload": "web"}, {"workload": "web"}, {}],
)
def test_series_without_both_string_labels_are_not_a_workloads(metric: dict[str, Any]) -> None:
    answer = collect(QUERY, SPAN, [{"metric": metric, "values": [[30, "1"]]}], frozenset({KEY}))
    assert answer.series == {}
