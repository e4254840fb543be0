"""Chart geometry: bounded points that keep spikes, honest axes, markers where things happened."""

from __future__ import annotations

import pytest

from controller.models.signals import Signal
from controller.replay.result import ChartSeries, TimelineEvent, TimelineKind
from controller.report.charts import LEFT, WIDTH, Chart, build_chart, downsample
from controller.report.view import workload_resolver
from tests.unit.report.sample import CHECKOUT, END, ONSET, START, WEB, at, sample_result


def chart(series: ChartSeries, events: tuple[TimelineEvent, ...] = ()) -> Chart:
    result = sample_result().model_copy(update={"timeline": events})
    return build_chart(series, events, workload_resolver(result), ONSET, (START, END))


def series(
    values: list[float], step: float = 60.0, unit: str = "ratio", threshold: float | None = None
) -> ChartSeries:
    stamps = tuple(START.timestamp() + i * step for i in range(len(values)))
    return ChartSeries(
        workload=CHECKOUT,
        signal=Signal.ERROR_RATIO,
        unit=unit,
        timestamps=stamps,
        values=tuple(values),
        threshold=threshold,
    )


@pytest.mark.parametrize(("count", "kept"), [(10, 10), (600, 600), (601, 600), (100_000, 600)])
def test_downsample_bounds_the_points(count: int, kept: int) -> None:
    times = [float(i) for i in range(count)]
    values = [float(i % 7) for i in range(count)]

    out_t, out_v = downsample(times, values)

    assert len(out_t) == len(out_v) == kept
    assert out_t == sorted(out_t)


def test_downsample_keeps_a_single_sample_spike() -> None:
    times = [float(i) for i in range(10_000)]
    values = [1.0] * 10_000
    values[4321] = 99.0
    values[8765] = -5.0

    _, kept = downsample(times, values)

    assert max(kept) == 99.0 and min(kept) == -5.0


def test_polyline_breaks_at_a_long_gap() -> None:
    s = series([0.01] * 5).model_copy(
        update={
            "timestamps": tuple(START.timestamp() + t for t in (0, 60, 120, 1800, 1860)),
        }
    )

    lines = chart(s).lines

    assert [len(line.split()) for line in lines] == [3, 2]


def test_axes_ratio_in_percent_time_through_zero_and_threshold_inside() -> None:
    c = chart(series([0.001, 0.02, 0.12, 0.03], threshold=0.05))

    assert c.unit == "%"
    assert [t.label for t in c.x_ticks] == ["-30m", "-20m", "-10m", "0", "+10m", "+20m", "+30m"]
    assert c.x_ticks[0].pos == LEFT and c.x_ticks[-1].pos == WIDTH - 16
    assert [t.label for t in c.y_ticks] == ["0", "5", "10", "15"]
    assert c.threshold_label == "threshold 5%"
    assert c.threshold_y is not None and c.bottom > c.threshold_y > c.top


@pytest.mark.parametrize(
    ("unit", "values", "shown"),
    [
        ("s", [0.2, 0.45], "ms"),
        ("s", [0.3, 2.5], "s"),
        ("1/s", [3.0], "1/s"),
        ("count", [1.0], "count"),
    ],
)
def test_display_units(unit: str, values: list[float], shown: str) -> None:
    assert chart(series(values, unit=unit)).unit == shown


def test_markers_only_for_this_workload_and_the_four_stages() -> None:
    events = (
        TimelineEvent(at=at(2), kind=TimelineKind.DETECTION, summary="opened", workload=CHECKOUT),
        TimelineEvent(at=at(2), kind=TimelineKind.PROPOSAL, summary="rollback", workload=CHECKOUT),
        TimelineEvent(at=at(3), kind=TimelineKind.APPROVAL, summary="ok", workload=CHECKOUT),
        TimelineEvent(at=at(4), kind=TimelineKind.ACTION, summary="applied", workload=WEB),
        TimelineEvent(at=at(90), kind=TimelineKind.ACTION, summary="late", workload=CHECKOUT),
        TimelineEvent(
            at=at(9), kind=TimelineKind.VERIFICATION, summary="improved", workload=CHECKOUT
        ),
    )

    markers = chart(series([0.01, 0.02]), events).markers

    assert [m.stage for m in markers] == [
        TimelineKind.DETECTION,
        TimelineKind.PROPOSAL,
        TimelineKind.VERIFICATION,
    ]
    assert markers[1].x > markers[0].x  # same moment, nudged apart so both show
    assert markers[0].title == "detected +2m00s: opened"
    assert markers[0].style.dash == "" and markers[1].style.dash != ""


def test_empty_series_draws_no_line() -> None:
    c = chart(series([]))

    assert c.lines == () and c.points == 0
    assert [t.label for t in c.y_ticks][0] == "0"
