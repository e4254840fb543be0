"""The planner's point read against the real Prometheus: it never narrows the fleet tick.

Each scenario runs an observer with the planner's read (``target_windows``) between two fleet
ticks next to a control observer without it, both behind the counting loopback proxy, and
compares what the second tick sent and returned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from controller.models.base import epoch, from_epoch
from controller.models.signals import Health, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.observers.prometheus import PrometheusMetrics
from controller.planner.graph.observe import target_windows
from tests.adapters.prometheus.helpers import observer
from tests.adapters.prometheus.recording import RATE_WINDOW, STEP, WATCHED, Recording
from tests.adapters.prometheus.servers import Fault, RecordingProxy, Seen

REFS = [truth.ref for truth in WATCHED]
TARGET = REFS[0]  # shop/web
LOOKBACK = 3 * 3600
Windows = Mapping[str, Mapping[Signal, SignalWindow]]


def ranges(seen: list[Seen]) -> list[tuple[float, float]]:
    return [(float(s.param("start")), float(s.param("end"))) for s in seen]


def view(windows: Windows) -> dict[tuple[str, Signal], tuple[object, ...]]:
    """Everything a window shows: when, every sample, health and message."""
    return {
        (key, signal): (w.observed_at, w.points(math.inf), w.health, w.message)
        for key, by_signal in windows.items()
        for signal, w in by_signal.items()
    }


def second_tick(
    proxy: RecordingProxy, metrics: PrometheusMetrics, at: datetime
) -> tuple[Windows, list[Seen]]:
    """The fleet tick at ``at``, and the queries it alone sent."""
    proxy.reset()
    windows = metrics.observe(REFS, at)
    return windows, proxy.queries()


@pytest.fixture
def t1(recording: Recording) -> datetime:
    return from_epoch(recording.end - 20 * STEP)


def test_a_planner_read_between_fleet_ticks_leaves_the_next_tick_unchanged(
    proxy: RecordingProxy, t1: datetime
) -> None:
    read_at, t2 = t1 + timedelta(seconds=STEP), t1 + timedelta(seconds=2 * STEP)

    control = observer(proxy.url)
    control.observe(REFS, t1)
    control_windows, control_sent = second_tick(proxy, control, t2)

    metrics = observer(proxy.url)
    metrics.observe(REFS, t1)
    raw, health = {s: metrics.latest_raw(s) for s in Signal}, metrics.health(read_at)
    proxy.reset()
    read = target_windows(metrics, TARGET, read_at)
    read_sent = proxy.queries()
    # What the fleet guard and the mode see between the ticks is still the whole fleet.
    assert {s: metrics.latest_raw(s) for s in Signal} == raw
    assert set(raw[Signal.LATENCY_P99]) == {ref.key for ref in REFS}
    assert metrics.health(read_at) == health
    windows, sent = second_tick(proxy, metrics, t2)

    # The read: one query per signal for the target alone, only the tail since the tick.
    assert len(read_sent) == len(Signal)
    assert all('"shop"' in s.param("query") and '"web"' in s.param("query") for s in read_sent)
    assert set(ranges(read_sent)) == {(epoch(t1) - STEP, epoch(read_at))}
    # The next fleet tick costs exactly what it costs without the read: a tail per signal.
    assert len(sent) == len(control_sent) == len(Signal)
    assert ranges(sent) == ranges(control_sent) == [(epoch(t1) - STEP, epoch(t2))] * len(Signal)
    assert [s.param("query") for s in sent] == [s.param("query") for s in control_sent]
    # And shows the same fleet: every workload, every window, raw values and health.
    assert set(windows) == set(control_windows) == {ref.key for ref in REFS}
    assert view(windows) == view(control_windows)
    for signal in Signal:
        assert metrics.latest_raw(signal) == control.latest_raw(signal)
    assert metrics.health(t2) == control.health(t2)

    # The read itself saw what a fresh observer of the target alone sees at that time.
    fresh = observer(proxy.url).observe([TARGET], read_at)[TARGET.key]
    assert set(read) == set(Signal)
    for signal, window in read.items():
        assert window.health is Health.OK, window.message
        assert window.observed_at == epoch(read_at)
        assert dict(window.points(math.inf)) == pytest.approx(dict(fresh[signal].points(math.inf)))


def test_a_read_within_the_ticks_step_is_the_ticks_answer_and_sends_nothing(
    proxy: RecordingProxy, t1: datetime
) -> None:
    metrics = observer(proxy.url)
    ticked = metrics.observe(REFS, t1)
    proxy.reset()
    same_step = t1 + timedelta(seconds=STEP - 1)
    read = metrics.read([TARGET, REFS[2]], same_step)
    assert proxy.queries() == []
    assert set(read) == {TARGET.key, REFS[2].key}
    for key, by_signal in read.items():
        for signal, window in by_signal.items():
            tick = ticked[key][signal]
            assert window.observed_at == epoch(same_step)
            assert (window.data, window.health, window.message) == (
                tick.data,
                tick.health,
                tick.message,
            )
    assert target_windows(metrics, TARGET, t1 + timedelta(seconds=STEP)) != {}
    assert len(proxy.queries()) == len(Signal)  # the next step is asked for


def test_a_read_of_an_unwatched_workload_backfills_it_and_is_forgotten(
    proxy: RecordingProxy, recording: Recording, t1: datetime
) -> None:
    fleet, outsider = REFS[:2], REFS[2]
    t2 = t1 + timedelta(seconds=2 * STEP)
    control = observer(proxy.url)
    control.observe(fleet, t1)
    proxy.reset()
    control_windows = control.observe(fleet, t2)
    control_sent = proxy.queries()

    metrics = observer(proxy.url)
    metrics.observe(fleet, t1)
    proxy.reset()
    read_at = t1 + timedelta(seconds=STEP)
    read = metrics.read([outsider], read_at)[outsider.key]
    assert set(ranges(proxy.queries())) == {(epoch(read_at) - LOOKBACK, epoch(read_at))}
    assert read[Signal.RESTARTS].coverage_seconds() == epoch(read_at) - recording.start

    proxy.reset()
    windows = metrics.observe(fleet, t2)
    assert ranges(proxy.queries()) == ranges(control_sent)
    assert set(windows) == {ref.key for ref in fleet}
    assert view(windows) == view(control_windows)


def test_a_failed_read_is_data_and_leaves_health_and_the_next_tick_alone(
    proxy: RecordingProxy, t1: datetime
) -> None:
    t2 = t1 + timedelta(seconds=2 * STEP)
    control = observer(proxy.url)
    control.observe(REFS, t1)
    control_windows, control_sent = second_tick(proxy, control, t2)

    metrics = observer(proxy.url)
    metrics.observe(REFS, t1)
    healthy = metrics.health(t1)
    bad = b'{"status":"error","errorType":"bad_data","error":"injected"}'
    proxy.faults = [Fault(400, {"Content-Type": "application/json"}, bad)] * len(Signal)
    read = metrics.read([TARGET], t1 + timedelta(seconds=STEP))[TARGET.key]
    assert {w.health for w in read.values()} == {Health.ERROR}
    assert all("HTTP 400: bad_data: injected" in w.message for w in read.values())
    assert all(w.data.timestamps for w in read.values())  # the stored history is shown
    assert metrics.health(t1) == healthy

    windows, sent = second_tick(proxy, metrics, t2)
    assert ranges(sent) == ranges(control_sent) == [(epoch(t1) - STEP, epoch(t2))] * len(Signal)
    assert view(windows) == view(control_windows)


def test_a_workload_dropped_then_re_added_is_backfilled_even_after_a_failed_query(
    proxy: RecordingProxy, recording: Recording, t1: datetime
) -> None:
    first = next(iter(Signal))
    metrics = observer(proxy.url)
    metrics.observe(REFS, t1)
    proxy.faults = [Fault(400, {"Content-Type": "text/plain"}, b"bad")]  # the first query
    narrowed = metrics.observe(REFS[:1], t1 + timedelta(seconds=STEP))
    assert narrowed[TARGET.key][first].health is Health.ERROR
    proxy.reset()
    back = t1 + timedelta(seconds=2 * STEP)
    windows = metrics.observe(REFS, back)
    assert set(ranges(proxy.queries())) == {(epoch(back) - LOOKBACK, epoch(back))}
    returned: WorkloadRef = REFS[2]
    covered = epoch(back) - recording.start
    assert windows[returned.key][first].coverage_seconds() >= covered - RATE_WINDOW
