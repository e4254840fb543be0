"""The detectors' shortcuts (issue 9, speed) decide exactly what the plain computations decide.

Each shortcut is checked against the straightforward version it replaced, kept here as the
oracle, over generated inputs: the fit's arithmetic, the growth bound that skips the fit,
the flat-counter test of the restart detectors, the backwards search for the newest deploy,
the short-window test of the burn rate and the shared verdicts of usable and blind windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.detection.burn import firing_pairs, pair_burn, short_may_burn
from controller.detection.inputs import blind_spot, problem, problems_of, usable_windows
from controller.detection.leak import fit, fit_series, growth_bound, leak_trend
from controller.detection.restarts import increments, restarts_within
from controller.detection.rollout import newest_deploy_until
from controller.models.base import epoch
from controller.models.events import ClusterEvent, EventKind
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.settings import DetectionSettings
from tests.unit.detection.detection_helpers import Scenario

WEB = WorkloadRef(namespace="shop", name="web")
T0 = 1_772_366_400.0
SETTINGS = DetectionSettings()


def reference_fit(points: Sequence[tuple[float, float]], now: float) -> tuple[float, ...] | None:
    """The fit's sums as the element-by-element loops computed them before."""
    count = len(points)
    if count < 2:
        return None
    times = [t - now for t, _ in points]
    mean_t = sum(times) / count
    mean_v = sum(v for _, v in points) / count
    dt = [t - mean_t for t in times]
    dv = [v - mean_v for _, v in points]
    sxx = sum(d * d for d in dt)
    sxy = sum(a * b for a, b in zip(dt, dv, strict=True))
    syy = sum(d * d for d in dv)
    return sxx, sxy, syy, mean_t, mean_v


def window_of(
    times: Sequence[float], values: Sequence[float], signal: Signal = Signal.MEMORY_SATURATION
) -> SignalWindow:
    return SignalWindow(WEB, signal, "test", times[-1], SeriesData(tuple(times), tuple(values)))


@st.composite
def series(
    draw: st.DrawFn, min_size: int = 2, max_size: int = 160
) -> tuple[list[float], list[float]]:
    """Strictly increasing epoch times (regular, with gaps, or jittered) and finite values."""
    size = draw(st.integers(min_size, max_size))
    gaps = draw(
        st.lists(
            st.one_of(st.just(15.0), st.just(30.0), st.floats(0.001, 120.0)),
            min_size=size,
            max_size=size,
        )
    )
    times = [T0 + sum(gaps[: i + 1]) for i in range(size)]
    level = draw(st.floats(-1e6, 1e6))
    noise = st.floats(-1.0, 1.0) | st.floats(-1e-9, 1e-9) | st.just(0.0)
    values = [level + draw(noise) * draw(st.sampled_from([1.0, 1e-3, 1e3])) for _ in times]
    if draw(st.booleans()):
        slope = draw(st.floats(-1e-3, 1e-3))
        values = [v + slope * (t - T0) for v, t in zip(values, times, strict=True)]
    return times, values


@settings(max_examples=300, deadline=None)
@given(series(), st.floats(0.0, 60.0))
def test_fit_series_repeats_the_fit_arithmetic_exactly(
    data: tuple[list[float], list[float]], later: float
) -> None:
    times, values = data
    now = times[-1] + later
    expected = reference_fit(list(zip(times, values, strict=True)), now)
    assert expected is not None
    sxx, sxy, syy, mean_t, mean_v = expected
    trend = fit(list(zip(times, values, strict=True)), now)
    assert trend == fit_series(times, values, now)
    finite = all(math.isfinite(x) for x in (sxx, sxy, syy, mean_v))
    if not finite or sxx <= 0 or syy <= 0:
        assert trend is None
        return
    slope = sxy / sxx
    if trend is not None:
        assert trend.slope == slope
        assert trend.at_now == mean_v - slope * mean_t
        assert trend.r_squared == (sxy / sxx) * (sxy / syy)
        assert trend.first == times[0]


@settings(max_examples=400, deadline=None)
@given(series(min_size=2), st.sampled_from([300.0, 1800.0, 3600.0]))
def test_growth_bound_is_never_below_the_fitted_growth(
    data: tuple[list[float], list[float]], seconds: float
) -> None:
    times, values = data
    memory = window_of(times, values)
    bound = growth_bound(memory, seconds)
    points = memory.points(seconds)
    trend = fit(points, memory.observed_at)
    if trend is not None and math.isfinite(trend.slope):
        assert trend.slope * seconds <= bound


def test_growth_bound_rules_out_a_noisy_plateau_and_keeps_a_climb() -> None:
    times = [T0 + 15.0 * i for i in range(121)]
    plateau = [0.45 + 0.01 * math.sin(i) for i in range(121)]
    climb = [0.4 + 0.2 * i / 120 for i in range(121)]
    assert growth_bound(window_of(times, plateau), 1800.0) < SETTINGS.memory_leak_min_growth
    assert growth_bound(window_of(times, climb), 1800.0) >= 0.2
    assert leak_trend(window_of(times, climb), 1800.0) is not None


def test_growth_bound_without_two_samples_rules_nothing_out() -> None:
    assert growth_bound(window_of([T0], [0.5]), 1800.0) == math.inf


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 1.0, 2.0, 5.0, 7.5]), min_size=1, max_size=60),
    st.sampled_from([30.0, 120.0, 600.0]),
)
def test_restarts_within_matches_walking_every_step(values: list[float], seconds: float) -> None:
    times = [T0 + 15.0 * i for i in range(len(values))]
    window = window_of(times, values, Signal.RESTARTS)
    assert restarts_within(window, seconds) == increments(window.points(seconds))


def reference_stuck_inputs(
    events: Sequence[ClusterEvent], now: float
) -> tuple[ClusterEvent, list[ClusterEvent]] | None:
    """Filter to ``now`` first, then take the newest deploy and what follows it."""
    kept = [event for event in events if epoch(event.time) <= now]
    for index in range(len(kept) - 1, -1, -1):
        if kept[index].kind is EventKind.DEPLOY:
            return kept[index], kept[index + 1 :]
    return None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-600, 600), st.sampled_from(list(EventKind))), max_size=12),
    st.booleans(),
)
def test_newest_deploy_until_matches_filtering_first(
    raw: list[tuple[int, EventKind]], ordered: bool
) -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    items = sorted(raw) if ordered else raw
    events = [
        ClusterEvent(time=start + timedelta(seconds=s), kind=kind, workload=WEB)
        for s, kind in items
    ]
    now = epoch(start)
    assert newest_deploy_until(events, now) == reference_stuck_inputs(events, now)


def test_short_window_test_only_skips_pairs_that_cannot_fire() -> None:
    burning = Scenario({Signal.ERROR_RATIO: lambda s: 0.05 if s > -1800 else 0.0001})
    calm = Scenario({Signal.ERROR_RATIO: lambda s: 0.0001})
    for scenario, fires in ((burning, True), (calm, False)):
        inputs = scenario.inputs(0)
        errors = inputs.windows[Signal.ERROR_RATIO]
        requests = inputs.windows[Signal.REQUEST_RATE]
        fired = firing_pairs(inputs, errors, requests)
        assert bool(fired) is fires
        for pair in SETTINGS.burn_windows:
            rates = pair_burn(errors, pair, 0.001)
            can_fire = rates is not None and rates[1] > pair.factor
            assert short_may_burn(errors, pair, 0.001) is can_fire


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(list(Signal)),
        st.tuples(st.sampled_from(list(Health)), st.integers(0, 3), st.integers(0, 200)),
        max_size=8,
    )
)
def test_shared_verdicts_give_the_same_usable_and_blind_windows(
    spec: dict[Signal, tuple[Health, int, int]],
) -> None:
    now = T0 + 3600.0
    windows = {}
    for signal, (health, count, age) in spec.items():
        times = tuple(now - age - 15.0 * (count - 1 - i) for i in range(count))
        data = SeriesData(times, tuple(0.5 for _ in times))
        windows[signal] = SignalWindow(WEB, signal, "test", now, data, health, "boom")
    problems = problems_of(windows, SETTINGS)
    stale = SETTINGS.stale_after.total_seconds()
    assert problems == {s: problem(w, stale) for s, w in windows.items()}
    assert usable_windows(windows, SETTINGS, problems) == usable_windows(windows, SETTINGS)
    since = datetime(2026, 3, 1, tzinfo=UTC)
    shared = blind_spot(WEB, windows, SETTINGS, since, problems)
    assert shared == blind_spot(WEB, windows, SETTINGS, since)
