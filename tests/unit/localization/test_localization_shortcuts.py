"""The fleet guard's and the cluster's shortcuts (issue 9, speed) give the plain answers.

``step_changes`` keeps each series' big steps in its memo and counts the reporting
workloads only at candidate times; ``SimulatedCluster.events`` (the per-workload events that
localization and detection read) bisects a per-workload index. Both are checked against the
straightforward versions they replaced, kept here as oracles, over generated fleets.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.detection.fleet import FLOORS, STEP_LOOKBACK, StepChange, step_changes
from controller.models.base import from_epoch
from controller.models.events import ClusterEvent, EventKind
from controller.models.signals import Health, SeriesData, Signal, SignalWindow, window_at
from controller.models.workloads import WorkloadRef
from controller.settings import ModeSettings
from controller.sim.fakes import SimulatedCluster
from tests.unit.detection.detection_helpers import inventory

SETTINGS = ModeSettings()
NOW = 1_772_366_400.0
FLEET = [WorkloadRef(namespace="demo", name=f"svc-{n:02d}") for n in range(8)]
Windows = dict[str, dict[Signal, SignalWindow]]


def _jump(before: float, after: float, floor: float) -> float:
    low, high = max(before, floor), max(after, floor)
    return high / low if high >= low else -(low / high)


def reference_step_changes(
    windows: Windows, signal: Signal, settings: ModeSettings, now: float
) -> list[StepChange]:
    """Every step of every window, counted as the guard did before its shortcut."""
    factor = settings.step_change_factor
    reporting: dict[float, int] = {}
    jumped: dict[tuple[float, str], list[tuple[str, float]]] = {}
    for key in sorted(windows):
        window = windows[key].get(signal)
        if window is None or window.health is not Health.OK:
            continue
        data, floor = window.data, FLOORS[window.signal]
        lo, hi = data.index_range(now - STEP_LOOKBACK.total_seconds(), min(window.observed_at, now))
        for index in range(max(lo, 1), hi):
            at = data.timestamps[index]
            jump = _jump(data.values[index - 1], data.values[index], floor)
            reporting[at] = reporting.get(at, 0) + 1
            if abs(jump) >= factor:
                direction = "rose" if jump > 0 else "dropped"
                jumped.setdefault((at, direction), []).append((key, abs(jump)))
    found = []
    for (at, direction), keys in sorted(jumped.items()):
        if len(keys) >= 3 and len(keys) * 2 > reporting[at]:
            median = statistics.median(size for _, size in keys)
            names = tuple(key for key, _ in keys)
            found.append(StepChange(signal, at, direction, names, reporting[at], median))
    return found


values = st.sampled_from([0.0, 0.0005, 0.001, 0.002, 0.2, 0.25, 2.0, 5.0, 250.0, -1.0])


@st.composite
def fleets(draw: st.DrawFn) -> Windows:
    """Windows of p99 latency, each with its own sampling, gaps, health and a shared step."""
    step_at = draw(st.integers(0, 50))
    factor = draw(st.sampled_from([1.0, 9.99, 10.0, 100.0, 0.01]))
    windows: Windows = {}
    for ref in draw(st.lists(st.sampled_from(FLEET), unique=True, max_size=8)):
        every = draw(st.sampled_from([15.0, 30.0, 60.0]))
        count = draw(st.integers(0, 60))
        base = draw(st.lists(values, min_size=count, max_size=count))
        points = [
            (NOW - every * (count - 1 - i), v * (factor if i >= step_at else 1.0))
            for i, v in enumerate(base)
            if draw(st.integers(0, 9)) > 0
        ]
        data = SeriesData(tuple(t for t, _ in points), tuple(v for _, v in points))
        health = draw(st.sampled_from([Health.OK, Health.OK, Health.OK, Health.ERROR]))
        seen = NOW - draw(st.sampled_from([0.0, 0.0, 45.0]))
        window = SignalWindow(ref, Signal.LATENCY_P99, "test", seen, data, health)
        windows[ref.key] = {Signal.LATENCY_P99: window}
    return windows


@settings(max_examples=300, deadline=None)
@given(fleets(), st.sampled_from([0.0, 30.0, -20.0]))
def test_step_changes_match_walking_every_step(windows: Windows, shift: float) -> None:
    now = NOW + shift
    expected = reference_step_changes(windows, Signal.LATENCY_P99, SETTINGS, now)
    assert step_changes(windows, Signal.LATENCY_P99, SETTINGS, now) == expected


@settings(max_examples=200, deadline=None)
@given(fleets(), st.lists(st.sampled_from([-600.0, -90.0, -30.0, -15.0, 0.0, 30.0]), max_size=8))
def test_step_changes_remembered_across_ticks_match_a_fresh_walk(
    windows: Windows, shifts: list[float]
) -> None:
    """The big steps kept in each series' memo give at every tick (forward, repeated or
    back in time, as a planner read may ask) what a walk over fresh data gives."""
    for shift in shifts + sorted(shifts):
        now = NOW + shift
        seen = {
            key: {s: window_at(w, from_epoch(now)) for s, w in by_signal.items()}
            for key, by_signal in windows.items()
        }
        fresh = {
            key: {
                s: SignalWindow(
                    w.workload,
                    s,
                    w.source,
                    now,
                    SeriesData(tuple(w.data.timestamps), tuple(w.data.values)),
                    w.health,
                )
                for s, w in by_signal.items()
            }
            for key, by_signal in windows.items()
        }
        expected = reference_step_changes(fresh, Signal.LATENCY_P99, SETTINGS, now)
        assert step_changes(seen, Signal.LATENCY_P99, SETTINGS, now) == expected


def test_a_step_seen_again_after_a_later_tick_is_still_found() -> None:
    """Forward past the lookback, then back (a read at an earlier time): the memo must not
    hide the step it skipped."""
    windows: Windows = {}
    for ref in FLEET:
        stamps = tuple(NOW - 30.0 * (99 - i) for i in range(100))
        points = tuple(0.2 if i < 60 else 200.0 for i in range(100))
        data = SeriesData(stamps, points)
        windows[ref.key] = {
            Signal.LATENCY_P99: SignalWindow(ref, Signal.LATENCY_P99, "t", NOW, data)
        }
    step_at = NOW - 30.0 * 39
    answers = []
    for now in (NOW, step_at + 60.0, NOW, step_at - 30.0, step_at + 60.0):
        seen = {
            k: {s: window_at(w, from_epoch(now)) for s, w in v.items()} for k, v in windows.items()
        }
        answers.append(len(step_changes(seen, Signal.LATENCY_P99, SETTINGS, now)))
    assert answers == [0, 1, 0, 0, 1]


def test_a_fleet_wide_unit_change_is_still_found() -> None:
    windows: Windows = {}
    for ref in FLEET:
        stamps = tuple(NOW - 30.0 * (19 - i) for i in range(20))
        points = tuple(0.2 if i < 15 else 200.0 for i in range(20))
        data = SeriesData(stamps, points)
        windows[ref.key] = {
            Signal.LATENCY_P99: SignalWindow(ref, Signal.LATENCY_P99, "t", NOW, data)
        }
    [change] = step_changes(windows, Signal.LATENCY_P99, SETTINGS, NOW)
    assert change.direction == "rose" and change.reporting == len(FLEET)
    assert change.jumped == tuple(sorted(ref.key for ref in FLEET))


START = datetime(2026, 3, 1, 12, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(FLEET[:3]), st.integers(0, 20), st.sampled_from(list(EventKind))),
        max_size=25,
    ),
    st.lists(st.integers(-2, 22), min_size=1, max_size=6),
)
def test_cluster_events_match_filtering_every_event(
    raw: list[tuple[WorkloadRef, int, EventKind]], asks: list[int]
) -> None:
    events = [
        ClusterEvent(time=START + timedelta(minutes=m), kind=kind, workload=ref, reason=str(i))
        for i, (ref, m, kind) in enumerate(raw)
    ]
    cluster = SimulatedCluster([inventory()], events=events)
    ordered = sorted(events, key=lambda e: e.time)
    for minute in asks:
        until = START + timedelta(minutes=minute)
        for ref in FLEET[:4]:
            expected = tuple(e for e in ordered if e.workload == ref and e.time <= until)
            assert cluster.events(ref, until) == expected
