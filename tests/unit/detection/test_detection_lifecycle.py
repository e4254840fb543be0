"""Incident lifecycle through detect(): open, update, resolve, reopen; state and determinism."""

from __future__ import annotations

from datetime import datetime

import pytest

from controller.detection import DetectionOutcome, DetectionState, detect
from controller.models.incident import FaultKind, FindingKind, Severity, WorkloadStatus
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from tests.unit.detection.detection_helpers import (
    SETTINGS,
    WEB,
    Scenario,
    Shape,
    at,
    first_index,
    inventory,
    minutes,
    run,
    ticks,
)

API = WorkloadRef(namespace="shop", name="api")


def levels(points: list[tuple[float, float | None]]) -> Shape:
    """Piecewise constant in minutes: the value of the last (start_minute, value) at or before s."""

    def value(s: float) -> float | None:
        current = points[0][1]
        for start, level in points:
            if s >= minutes(start):
                current = level
        return current

    return value


def kinds(outcome: DetectionOutcome) -> set[FindingKind]:
    [incident] = outcome.open
    return {finding.kind for finding in incident.findings}


TIMES = ticks(minutes(10), minutes(50))
LATENCY_EPISODES = Scenario(
    {Signal.LATENCY_P99: levels([(-999, 0.2), (10, 2.0), (20, 0.5), (40, 3.0)])}
)


def outcome_at(outcomes: list[DetectionOutcome], minute: float) -> DetectionOutcome:
    return outcomes[TIMES.index(minutes(minute))]


def test_open_resolve_and_reopen_with_a_new_id() -> None:
    outcomes = run([LATENCY_EPISODES], TIMES)
    opened = [(t, o.opened[0]) for t, o in zip(TIMES, outcomes, strict=True) if o.opened]
    resolved = [(t, o.resolved[0]) for t, o in zip(TIMES, outcomes, strict=True) if o.resolved]
    # Opens when the 3-minute persistence is met; the onset is when p99 crossed.
    (first_at, first), (second_at, second) = opened
    assert first_at == minutes(12.5)
    assert first.id == "shop.web.20260301T121230Z"
    assert first.onset == at(minutes(10)) and first.opened_at == at(minutes(12.5))
    assert first.snapshot_at == at(minutes(12.5)) and first.severity is Severity.PAGE
    assert first.lead.fault is FaultKind.LATENCY_REGRESSION
    # Clears after 5 minutes below 0.8s (at 24.5m), resolves 5 minutes after the last finding.
    [(resolved_at, last_known)] = resolved
    assert resolved_at == minutes(29)
    assert last_known.id == first.id and last_known.snapshot_at == at(minutes(28.5))
    # Firing again opens a new incident with a new id.
    assert second_at == minutes(42.5) and second.id == "shop.web.20260301T124230Z"
    for t, outcome in zip(TIMES, outcomes, strict=True):
        expected = 1 if minutes(12.5) <= t < minutes(29) or t >= minutes(42.5) else 0
        assert len(outcome.open) == expected, t


def test_statuses_over_the_lifecycle() -> None:
    outcomes = run([LATENCY_EPISODES], TIMES)
    status = {minute: outcome_at(outcomes, minute).statuses[WEB.key] for minute in (12, 13, 26, 30)}
    assert status == {
        12: WorkloadStatus.HEALTHY,
        13: WorkloadStatus.UNHEALTHY,
        26: WorkloadStatus.UNHEALTHY,  # latch cleared, incident still open (not seen clear long)
        30: WorkloadStatus.HEALTHY,
    }


def test_open_incident_is_refreshed_but_not_updated_while_nothing_changes() -> None:
    outcomes = run([LATENCY_EPISODES], ticks(minutes(12.5), minutes(19)))
    assert all(outcome.updated == () for outcome in outcomes)
    snapshots = [outcome.open[0].snapshot_at for outcome in outcomes]
    assert snapshots == sorted(set(snapshots))
    assert len({outcome.open[0].id for outcome in outcomes}) == 1


def test_new_finding_kind_and_new_lead_update_the_incident() -> None:
    scenario = Scenario(
        {
            Signal.LATENCY_P99: levels([(-999, 0.2), (10, 2.0)]),
            Signal.CPU_SATURATION: levels([(-999, 0.5), (15, 0.97)]),
        }
    )
    outcomes = run([scenario], ticks(minutes(10), minutes(25)))
    index = first_index(outcomes, lambda o: bool(o.updated))
    assert index is not None
    [updated] = outcomes[index].updated
    assert ticks(minutes(10), minutes(25))[index] == minutes(19.5)
    assert {f.kind for f in updated.findings} == {FindingKind.LATENCY, FindingKind.CPU_SATURATION}
    assert updated.lead.fault is FaultKind.SATURATION
    assert updated.onset == at(minutes(10))
    assert sum(len(o.updated) for o in outcomes) == 1


def test_finding_that_pauses_briefly_stays_on_the_incident() -> None:
    # Restarts stop for 3 minutes (less than clear_for): no update, no resolution.
    def restarts(s: float) -> float:
        active = min(s, minutes(20)) + max(0.0, s - minutes(23))
        return float(max(0, int(active // 60) - 14))

    outcomes = run([Scenario({Signal.RESTARTS: restarts})], ticks(minutes(17), minutes(30)))
    assert outcomes[0].opened
    assert all(o.updated == () and o.resolved == () for o in outcomes)
    assert all(kinds(o) >= {FindingKind.CRASH_LOOP} for o in outcomes)


def test_incident_is_kept_while_its_signal_cannot_be_seen() -> None:
    scenario = Scenario(
        {Signal.LATENCY_P99: levels([(-999, 0.2), (10, 2.0), (20, None), (60, 0.2)])}
    )
    times = ticks(minutes(10), minutes(70))
    outcomes = run([scenario], times)
    by_minute = dict(zip(times, outcomes, strict=True))
    blind = by_minute[minutes(40)]
    assert blind.statuses[WEB.key] is WorkloadStatus.BLIND
    assert len(blind.open) == 1 and blind.blind[0].signals == (Signal.LATENCY_P99,)
    resolved_at = [t for t, o in by_minute.items() if o.resolved]
    # Back at 60m, two good samples clear the latch at 60.5m; 5 minutes later it resolves.
    assert resolved_at == [minutes(65)]


def test_workloads_are_independent_and_ordered_by_key() -> None:
    api = Scenario({Signal.LATENCY_P99: levels([(-999, 0.2), (10, 2.0)])}, inv=inventory(API))
    outcomes = run([LATENCY_EPISODES, api], ticks(minutes(12.5), minutes(13)))
    first = outcomes[0]
    assert [incident.workload for incident in first.opened] == [API, WEB]
    assert set(first.statuses) == {API.key, WEB.key}


def test_workload_missing_from_views_keeps_its_incident() -> None:
    [opened] = run([LATENCY_EPISODES], [minutes(13)])
    later = detect([], opened.state, SETTINGS, at(minutes(40)))
    assert later.open == opened.open and later.resolved == () and later.statuses == {}


def test_same_inputs_give_equal_outcomes() -> None:
    scenarios = [
        LATENCY_EPISODES,
        Scenario({Signal.LATENCY_P99: levels([(-999, 0.2), (11, 2.0)])}, inv=inventory(API)),
    ]
    first = run(scenarios, TIMES)
    second = run(scenarios, TIMES)
    assert first == second
    assert first[-1].state == second[-1].state


def test_empty_state_and_no_views() -> None:
    outcome = detect([], DetectionState.empty(), SETTINGS, at(0))
    assert outcome.state == DetectionState.empty()
    assert outcome.open == () and outcome.statuses == {}


def test_bad_calls_are_rejected() -> None:
    view = Scenario().view(0)
    with pytest.raises(ValueError, match="two views"):
        detect([view, view], DetectionState.empty(), SETTINGS, at(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        detect([view], DetectionState.empty(), SETTINGS, datetime(2026, 3, 1, 12))
