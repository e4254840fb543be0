"""The log-scale histogram: documented relative error, bounds, nearest-rank quantiles."""

from __future__ import annotations

import math
import random

import pytest

from controller.observers.traces.histogram import (
    MAX_BINS,
    MAX_SECONDS,
    RELATIVE_ERROR,
    LogHistogram,
    bin_index,
    bin_value,
    merged,
)


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_are_within_the_relative_error(seed: int) -> None:
    rng = random.Random(seed)
    values = [10 ** rng.uniform(-6, 4.9) for _ in range(2000)]  # 1 µs .. ~22 h
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)

    for q in (0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0):
        exact = _exact(values, q)
        reported = histogram.quantile(q)
        assert reported is not None
        assert abs(reported - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9), (q, exact)


@pytest.mark.parametrize("value", [1e-6, 0.001, 0.0123, 0.25, 1.0, 1.7, 59.9, 3600.0, MAX_SECONDS])
def test_every_bin_reports_within_the_relative_error(value: float) -> None:
    assert abs(bin_value(bin_index(value)) - value) <= RELATIVE_ERROR * value * (1 + 1e-9)


@pytest.mark.parametrize(("value", "reported"), [(0.0, 0.0), (5e-7, 0.0), (-1.0, 0.0)])
def test_values_below_a_microsecond_report_zero(value: float, reported: float) -> None:
    histogram = LogHistogram()
    histogram.add(value)
    assert histogram.quantile(0.5) == reported


def test_values_above_the_range_are_clamped() -> None:
    histogram = LogHistogram()
    histogram.add(10 * MAX_SECONDS)
    reported = histogram.quantile(1.0)
    assert reported is not None
    assert abs(reported - MAX_SECONDS) <= RELATIVE_ERROR * MAX_SECONDS


def test_the_number_of_bins_is_bounded_whatever_the_input() -> None:
    indices = {bin_index(10**e) for e in (x / 100 for x in range(-900, 700))}
    assert len(indices) <= MAX_BINS == 1261


def test_merging_equals_adding_everything_to_one() -> None:
    rng = random.Random(3)
    parts = [[rng.expovariate(10) for _ in range(100)] for _ in range(4)]
    histograms = []
    whole = LogHistogram()
    for part in parts:
        histogram = LogHistogram()
        for value in part:
            histogram.add(value)
            whole.add(value)
        histograms.append(histogram)

    total = merged(histograms)

    assert total.count == whole.count == 400
    assert [total.quantile(q) for q in (0.5, 0.99)] == [whole.quantile(q) for q in (0.5, 0.99)]


def test_an_empty_histogram_has_no_quantiles() -> None:
    assert LogHistogram().quantile(0.5) is None


def test_a_quantile_outside_zero_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="within"):
        LogHistogram().quantile(1.5)
