"""Chart geometry: bounded points that keep spikes, honest axes, markers where things happened."""

from __future__ import annotations

import pytest

from controller.models.decisions import VerificationPhase, VerificationResult
from controller.models.signals import Signal
from controller.replay.result import ChartSeries, ComparisonRow, TimelineEvent, TimelineKind
from controller.report.charts import LEFT, WIDTH, Chart, build_chart, downsample
from controller.report.view import workload_resolver
from tests.unit.report.sample import (
    CHECKOUT,
    END,
    ONSET,
    PLAN_HASH,
    START,
    WEB,
    at,
    sample_result,
)


def chart(
    series: ChartSeries,
    events: tuple[TimelineEvent, ...] = (),
    *,
    recorded: tuple[ComparisonRow, ...] = (),
    verifications: tuple[VerificationResult, ...] = (),
) -> Chart:
    result = sample_result().model_copy(update={"timeline": events})
    return build_chart(
        series,
        events,
        workload_resolver(result),
        ONSET,
        (START, END),
        recorded=recorded,
        verifications=verifications,
    )


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
    ("unit", "values", "shown", "threshold"),
    [
        ("s", [0.2, 0.45], "ms", "threshold 300 ms"),
        ("s", [0.3, 2.5], "ms", "threshold 300 ms"),  # latency is in ms whatever its size
        ("ratio", [0.01], "%", "threshold 30%"),
        ("1/s", [3.0], "1/s", "threshold 0.3 1/s"),
        ("count", [1.0], "count", "threshold 0.3"),
    ],
)
def test_display_units(unit: str, values: list[float], shown: str, threshold: str) -> None:
    c = chart(series(values, unit=unit, threshold=0.3))

    assert c.unit == shown
    assert c.threshold_label == threshold


def test_latency_axis_ticks_are_milliseconds() -> None:
    c = chart(series([0.3, 2.5], unit="s"))

    assert [t.label for t in c.y_ticks] == ["0", "1,000", "2,000", "3,000"]


def test_markers_only_for_this_workload_and_the_marked_stages() -> None:
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

    assert [m.style.key for m in markers] == ["detection", "proposal", "verification"]
    assert markers[1].x > markers[0].x  # same moment, nudged apart so both show
    assert markers[0].title == "detected +2m00s: opened"
    assert markers[0].style.dash == "" and markers[1].style.dash != ""


def test_a_changed_diagnosis_has_its_own_marker() -> None:
    events = (
        TimelineEvent(
            at=at(2),
            kind=TimelineKind.DETECTION,
            summary="incident opened: slo_burn; lead hypothesis bad_deploy",
            workload=CHECKOUT,
        ),
        TimelineEvent(
            at=at(5),
            kind=TimelineKind.DETECTION,
            summary="diagnosis changed: slo_burn, crash_loop; lead hypothesis crash_loop",
            workload=CHECKOUT,
        ),
    )

    markers = chart(series([0.01]), events).markers

    assert [m.style.key for m in markers] == ["detection", "rediagnosis"]
    assert markers[0].style.color != markers[1].style.color
    assert markers[0].style.dash != markers[1].style.dash
    assert markers[1].title.startswith("diagnosis changed +5m00s: diagnosis changed: slo_burn")


def test_recorded_human_actions_are_marked_on_their_workload_only() -> None:
    rows = sample_result().comparison  # alice rolled back checkout at +6m, bob scaled web at +7m
    detected = TimelineEvent(
        at=at(6), kind=TimelineKind.DETECTION, summary="opened", workload=CHECKOUT
    )

    checkout = chart(series([0.01]), (detected,), recorded=rows).markers
    web = chart(series([0.01]).model_copy(update={"workload": WEB}), recorded=rows).markers

    assert [m.style.key for m in checkout] == ["detection", "human"]
    assert checkout[1].x > checkout[0].x  # same moment as the detection: nudged, not hidden
    assert checkout[1].title.startswith("human acted (recorded) +6m00s: rollback shop/checkout")
    assert checkout[1].title.endswith("by alice")
    assert [m.title for m in web] == [
        "human acted (recorded) +7m00s: scale shop/web 4 -> 8 replicas by bob"
    ]


def test_a_verified_series_gets_a_point_at_the_verification_in_display_units() -> None:
    verification = VerificationResult(
        plan_hash=PLAN_HASH,
        signal=Signal.ERROR_RATIO,
        phase=VerificationPhase.IMPROVED,
        baseline=0.12,
        observed=0.004,
        relative_change=-0.967,
        at=at(9),
    )

    plain = chart(series([0.12, 0.06, 0.004]))
    judged = chart(series([0.12, 0.06, 0.004]), verifications=(verification,))

    assert not plain.verified and plain.dots == ()
    assert judged.verified
    (dot,) = judged.dots
    assert dot.title == "verification +9m00s: improved, error_ratio 12% -> 0.4% (-97%)"
    zero = next(t for t in judged.y_ticks if t.label == "0")
    assert judged.left < dot.x < judged.right and zero.pos > dot.y >= judged.top


def test_empty_series_draws_no_line() -> None:
    c = chart(series([]))

    assert c.lines == () and c.points == 0
    assert [t.label for t in c.y_ticks][0] == "0"
