"""Crash loops and restart bursts from the restart counter (resets are not restarts)."""

from __future__ import annotations

import pytest

from controller.detection.restarts import detect_crash_loop, detect_restart_burst, increments
from controller.models.events import EventKind
from controller.models.incident import FindingKind, Severity
from controller.models.signals import Signal
from tests.unit.detection.detection_helpers import Scenario, Shape, at, event, minutes


def counter(points: list[tuple[float, float]]) -> Shape:
    """Piecewise-constant counter: the value of the last (start_minute, value) at or before s."""

    def value(s: float) -> float:
        current = 0.0
        for start, level in points:
            if s >= minutes(start):
                current = level
        return current

    return value


def per_minute_from(start_minute: float, stop_minute: float = 1e9) -> Shape:
    """One restart per minute from ``start_minute`` until ``stop_minute``."""
    return lambda s: float(max(0, int(min(s, minutes(stop_minute)) // 60 - start_minute)))


def test_crash_loop_fires_and_reports_numbers() -> None:
    scenario = Scenario(
        {Signal.RESTARTS: per_minute_from(-5)},
        events=[
            event(EventKind.POD_CRASH, -minutes(2)),
            event(EventKind.OOM_KILLED, -minutes(1)),
            event(EventKind.POD_CRASH, -minutes(30)),  # outside the window
        ],
    )
    finding = detect_crash_loop(scenario.inputs(0))
    assert finding is not None and finding.kind is FindingKind.CRASH_LOOP
    assert finding.severity is Severity.PAGE
    assert finding.value == 5 and finding.threshold == 3
    assert finding.since == at(-minutes(4))
    assert "corroborated by 1 pod_crash, 1 oom_killed event(s)" in finding.detail


@pytest.mark.parametrize(("restarts", "fires"), [(2, False), (3, True)])
def test_crash_loop_threshold(restarts: int, fires: bool) -> None:
    scenario = Scenario({Signal.RESTARTS: counter([(-3, 0), (-2, restarts)])})
    assert (detect_crash_loop(scenario.inputs(0)) is not None) is fires


def test_counter_resets_are_not_restarts_and_do_not_hide_them() -> None:
    # 7 -> 8 -> 9 (two restarts), pod replaced: sum drops to 0, then one more restart.
    scenario = Scenario({Signal.RESTARTS: counter([(-20, 7), (-4, 8), (-3, 9), (-2, 0), (-1, 1)])})
    finding = detect_crash_loop(scenario.inputs(0))
    assert finding is not None and finding.value == 3
    only_reset = Scenario({Signal.RESTARTS: counter([(-20, 9), (-2, 0)])})
    assert detect_crash_loop(only_reset.inputs(0)) is None


def test_crash_loop_needs_restarts_in_the_recent_half_of_the_window() -> None:
    stopped = Scenario({Signal.RESTARTS: per_minute_from(-10, stop_minute=-5)})
    assert detect_crash_loop(stopped.inputs(0)) is None
    assert detect_crash_loop(stopped.inputs(-minutes(5))) is not None


@pytest.mark.parametrize(("restarts", "fires"), [(4, False), (5, True), (9, True)])
def test_restart_burst_threshold(restarts: int, fires: bool) -> None:
    scenario = Scenario({Signal.RESTARTS: counter([(-20, 2), (-0.5, 2 + restarts)])})
    finding = detect_restart_burst(scenario.inputs(0))
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.kind is FindingKind.RESTART_BURST and finding.value == restarts
        assert "no pod_crash or oom_killed events" in finding.detail


def test_restart_burst_outside_its_window_is_ignored() -> None:
    scenario = Scenario({Signal.RESTARTS: counter([(-5, 6)])})
    assert detect_restart_burst(scenario.inputs(0)) is None


@pytest.mark.parametrize(
    ("values", "total"),
    [([0, 1, 2, 3], 3), ([5, 5, 5], None), ([3, 0, 2], 2), ([4, 2, 1], None), ([1], None)],
)
def test_increments_count_only_positive_steps(values: list[float], total: float | None) -> None:
    result = increments([(float(i), v) for i, v in enumerate(values)])
    assert (None if result is None else result.total) == total
