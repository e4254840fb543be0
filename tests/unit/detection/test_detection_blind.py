"""Blind rules: missing, stale or erroneous required signals are never healthy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controller.detection.inputs import blind_spot, problem, usable_windows
from controller.models.incident import WorkloadStatus
from controller.models.signals import Health, Signal
from tests.unit.detection.detection_helpers import (
    SETTINGS,
    WEB,
    Scenario,
    at,
    const,
    minutes,
    run,
    series,
    window,
)

NOW = minutes(30)


def test_fresh_healthy_workload_is_healthy_not_blind() -> None:
    [outcome] = run([Scenario()], [NOW])
    assert outcome.statuses == {WEB.key: WorkloadStatus.HEALTHY}
    assert outcome.blind == () and outcome.open == ()


@pytest.mark.parametrize(
    ("case", "make", "expected"),
    [
        ("missing", lambda: Scenario(drop=[Signal.LATENCY_P99]), "latency_p99: no data at all"),
        (
            "error",
            lambda: Scenario(health={Signal.ERROR_RATIO: Health.ERROR}),
            "error_ratio: health error",
        ),
        (
            "no_data",
            lambda: Scenario(health={Signal.RESTARTS: Health.NO_DATA}),
            "restarts: health no_data",
        ),
        (
            "stale",
            lambda: Scenario({Signal.CPU_SATURATION: lambda s: 0.5 if s <= minutes(20) else None}),
            "cpu_saturation: newest sample 600s old (stale after 90s)",
        ),
    ],
)
def test_unusable_required_signal_makes_the_workload_blind(
    case: str, make: Callable[[], Scenario], expected: str
) -> None:
    [outcome] = run([make()], [NOW])
    assert outcome.statuses[WEB.key] is WorkloadStatus.BLIND, case
    [spot] = outcome.blind
    assert spot.workload == WEB
    assert expected in spot.reason
    assert outcome.newly_blind == (spot,)
    assert spot.since == at(NOW)


def test_stale_threshold_is_exclusive() -> None:
    data = series(const(0.5), -minutes(10), 0)
    assert problem(window(Signal.CPU_SATURATION, data, 90), 90.0) is None
    assert problem(window(Signal.CPU_SATURATION, data, 91), 90.0) is not None


def test_window_without_any_visible_sample_is_unusable() -> None:
    data = series(const(0.5), minutes(5), minutes(10))  # only future samples
    assert problem(window(Signal.CPU_SATURATION, data, 0), 90.0) == "no samples"


def test_error_message_is_quoted_in_the_reason() -> None:
    data = series(const(0.5), -minutes(10), 0)
    bad = window(Signal.ERROR_RATIO, data, 0, health=Health.ERROR, message="HTTP 503 from prom")
    spot = blind_spot(WEB, {Signal.ERROR_RATIO: bad}, SETTINGS, at(0))
    assert spot is not None
    assert "error_ratio: health error: HTTP 503 from prom" in spot.reason
    assert Signal.ERROR_RATIO in spot.signals and Signal.REQUEST_RATE in spot.signals


def test_usable_windows_excludes_unhealthy_and_stale_signals() -> None:
    scenario = Scenario(
        {Signal.LATENCY_P50: lambda s: 0.05 if s <= 0 else None},
        health={Signal.REQUEST_RATE: Health.ERROR},
    )
    usable = usable_windows(scenario.windows(NOW), SETTINGS)
    assert Signal.REQUEST_RATE not in usable and Signal.LATENCY_P50 not in usable
    assert Signal.ERROR_RATIO in usable


def test_non_required_signal_does_not_blind() -> None:
    [outcome] = run([Scenario(drop=[Signal.LATENCY_P50, Signal.REPLICAS_AVAILABLE])], [NOW])
    assert outcome.statuses[WEB.key] is WorkloadStatus.HEALTHY


def test_blind_since_is_kept_and_sight_restored_is_reported_once() -> None:
    gap = Scenario({Signal.LATENCY_P99: lambda s: None if minutes(10) < s < minutes(20) else 0.2})
    outcomes = run([gap], [minutes(11), minutes(12), minutes(13), minutes(20), minutes(21)])
    first, second, third, back, after = outcomes
    assert first.statuses[WEB.key] is WorkloadStatus.HEALTHY  # 60s old: still fresh
    assert second.newly_blind and second.blind[0].since == at(minutes(12))
    assert third.newly_blind == () and third.blind[0].since == at(minutes(12))
    assert back.sight_restored == (WEB,) and back.blind == ()
    assert back.statuses[WEB.key] is WorkloadStatus.HEALTHY
    assert after.sight_restored == ()


def test_blind_workload_without_findings_opens_no_incident() -> None:
    outcomes = run([Scenario(drop=[Signal.REQUEST_RATE])], [minutes(m) for m in range(0, 40, 5)])
    assert all(outcome.open == () for outcome in outcomes)
    assert all(outcome.statuses[WEB.key] is WorkloadStatus.BLIND for outcome in outcomes)


def test_blind_workload_with_a_crash_loop_is_unhealthy() -> None:
    crashing = Scenario(
        {Signal.RESTARTS: lambda s: max(0.0, (s - minutes(20)) // 60)},
        drop=[Signal.REQUEST_RATE, Signal.ERROR_RATIO],
    )
    [outcome] = run([crashing], [minutes(26)])
    assert outcome.statuses[WEB.key] is WorkloadStatus.UNHEALTHY
    assert outcome.blind and outcome.blind[0].signals == (Signal.REQUEST_RATE, Signal.ERROR_RATIO)
    [incident] = outcome.opened
    assert {finding.kind.value for finding in incident.findings} >= {"crash_loop"}


def test_detectors_skip_stale_signals() -> None:
    # p99 is far above the bound, but its newest sample is stale: no latency finding.
    stale = Scenario({Signal.LATENCY_P99: lambda s: 5.0 if s <= minutes(20) else None})
    [outcome] = run([stale], [minutes(25)])
    assert outcome.open == ()
    assert outcome.statuses[WEB.key] is WorkloadStatus.BLIND
