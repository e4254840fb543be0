"""Property: for any series, detect() never raises and never calls a half-seen workload healthy."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.detection import DetectionState, WorkloadView, detect
from controller.detection.inputs import problem
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import WorkloadStatus
from controller.models.signals import Health, SeriesData, Signal
from tests.unit.detection.detection_helpers import SETTINGS, T0, WEB, inventory, window

STALE = SETTINGS.stale_after.total_seconds()
values = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)
small = st.floats(min_value=-2.0, max_value=50.0, allow_nan=False)


@st.composite
def series_data(draw: st.DrawFn) -> SeriesData:
    """Either scattered samples, or a regular 30-s grid ending near now (what detectors need)."""
    if draw(st.booleans()):
        start = draw(st.integers(-3 * 3600, -1800))
        offsets = list(range(start, draw(st.integers(-120, 600)), 30))
    else:
        offsets = sorted(draw(st.lists(st.integers(-6 * 3600, 3600), max_size=60, unique=True)))
    pick = draw(st.sampled_from([values, small]))
    samples = draw(st.lists(pick, min_size=len(offsets), max_size=len(offsets)))
    return SeriesData(tuple(T0.timestamp() + o for o in offsets), tuple(samples))


healths = st.one_of(st.just(Health.OK), st.sampled_from(list(Health)))
present = st.tuples(series_data(), healths, st.text(max_size=20))
signal_entry = st.one_of(st.none(), present, present, present)
"""Mostly present and healthy, so that the detectors actually run."""

events = st.lists(
    st.builds(
        lambda kind, offset: ClusterEvent(
            time=T0 + timedelta(seconds=offset), kind=kind, workload=WEB, revision=3
        ),
        st.sampled_from(list(EventKind)),
        st.integers(-6 * 3600, 3600),
    ),
    max_size=6,
).map(lambda evs: tuple(sorted(evs, key=lambda e: e.time)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.fixed_dictionaries({signal: signal_entry for signal in Signal}),
    event_list=events,
    tick_offsets=st.lists(st.integers(-600, 600), min_size=1, max_size=4),
)
def test_detect_never_raises_and_never_calls_a_blind_workload_healthy(
    entries: dict[Signal, tuple[SeriesData, Health, str] | None],
    event_list: tuple[ClusterEvent, ...],
    tick_offsets: list[int],
) -> None:
    state = DetectionState.empty()
    for offset in sorted(set(tick_offsets)):
        now = T0 + timedelta(seconds=offset)
        windows = {
            signal: window(signal, data, offset, health=health, message=message)
            for signal, entry in entries.items()
            if entry is not None
            for data, health, message in [entry]
        }
        view = WorkloadView(inventory(), windows, tuple(e for e in event_list if e.time <= now))
        outcome = detect([view], state, SETTINGS, now)
        state = outcome.state
        status = outcome.statuses[WEB.key]
        missing = [s for s in SETTINGS.required_signals if problem(windows.get(s), STALE)]
        if missing:
            assert status is not WorkloadStatus.HEALTHY
            assert [spot.signals for spot in outcome.blind] == [tuple(missing)]
        if status is WorkloadStatus.HEALTHY:
            assert outcome.open == () and outcome.blind == ()
        for incident in outcome.open:
            assert incident.findings and incident.hypotheses
            assert all(f.value is None or math.isfinite(f.value) for f in incident.findings)


def test_absurd_magnitudes_are_not_judged() -> None:
    """Huge values overflow sums; they must neither raise nor produce non-finite findings."""
    huge = [1e300 * (1 if i % 2 else -1) for i in range(400)]
    data = SeriesData(tuple(T0.timestamp() - 30.0 * (399 - i) for i in range(400)), tuple(huge))
    windows = {signal: window(signal, data, 0) for signal in Signal}
    outcome = detect([WorkloadView(inventory(), windows, ())], DetectionState.empty(), SETTINGS, T0)
    for incident in outcome.open:
        assert all(f.value is None or math.isfinite(f.value) for f in incident.findings)
    assert outcome.statuses[WEB.key] is not WorkloadStatus.BLIND
