"""Stuck rollouts (events only) and over-provisioning (idle CPU above the replica floor)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from controller.detection.provisioning import detect_over_provisioned
from controller.detection.rollout import detect_stuck_rollout
from controller.models.events import EventKind
from controller.models.incident import FindingKind, Severity
from controller.models.signals import Signal
from tests.unit.detection.detection_helpers import (
    Scenario,
    at,
    between,
    const,
    event,
    inventory,
    minutes,
)

DEPLOY, COMPLETE, STALLED = EventKind.DEPLOY, EventKind.ROLLOUT_COMPLETE, EventKind.ROLLOUT_STALLED


@pytest.mark.parametrize(
    ("case", "events", "since_minutes"),
    [
        ("past deadline", [(DEPLOY, -15)], -5),
        ("within deadline", [(DEPLOY, -5)], None),
        ("completed", [(DEPLOY, -15), (COMPLETE, -10)], None),
        ("stalled early", [(DEPLOY, -2), (STALLED, -1)], -1),
        ("stall then complete", [(DEPLOY, -15), (STALLED, -12), (COMPLETE, -11)], None),
        ("newest deploy counts", [(DEPLOY, -60), (COMPLETE, -55), (DEPLOY, -20)], -10),
        ("old completion", [(COMPLETE, -30), (DEPLOY, -20)], -10),
        ("newest completed", [(DEPLOY, -60), (DEPLOY, -20), (COMPLETE, -15)], None),
        ("no deploy", [(STALLED, -30)], None),
        ("future completion ignored", [(DEPLOY, -15), (COMPLETE, 5)], -5),
    ],
)
def test_stuck_rollout(
    case: str, events: list[tuple[EventKind, float]], since_minutes: float | None
) -> None:
    scenario = Scenario(
        events=[
            event(kind, minutes(m), revision=7 if kind is DEPLOY else None) for kind, m in events
        ]
    )
    inputs = scenario.inputs(0)
    # The view already hides future events; pass them anyway to check the detector's own guard.
    finding = detect_stuck_rollout(replace(inputs, events=scenario.events))
    if since_minutes is None:
        assert finding is None, case
        return
    assert finding is not None, case
    assert finding.kind is FindingKind.STUCK_ROLLOUT and finding.severity is Severity.TICKET
    assert finding.since == at(minutes(since_minutes)), case
    assert finding.threshold == 600 and finding.window == timedelta(minutes=10)
    assert "revision 7" in finding.detail


def test_stall_reason_is_quoted() -> None:
    scenario = Scenario(
        events=[
            event(DEPLOY, -minutes(3)),
            event(STALLED, -minutes(1), reason="ProgressDeadlineExceeded"),
        ]
    )
    finding = detect_stuck_rollout(scenario.inputs(0))
    assert finding is not None and "ProgressDeadlineExceeded" in finding.detail


IDLE = minutes(180)


@pytest.mark.parametrize(
    ("case", "scenario", "fires"),
    [
        ("idle for hours", Scenario({Signal.CPU_SATURATION: const(0.1)}, start=-IDLE), True),
        (
            "one busy sample",
            Scenario(
                {Signal.CPU_SATURATION: between(0.1, 0.25, -minutes(60), -minutes(59.5))},
                start=-IDLE,
            ),
            False,
        ),
        ("just below", Scenario({Signal.CPU_SATURATION: const(0.199)}, start=-IDLE), True),
        ("at the bound", Scenario({Signal.CPU_SATURATION: const(0.2)}, start=-IDLE), False),
        (
            "too little history",
            Scenario({Signal.CPU_SATURATION: const(0.1)}, start=-minutes(90)),
            False,
        ),
        (
            "single replica",
            Scenario(
                {Signal.CPU_SATURATION: const(0.1), Signal.REPLICAS_AVAILABLE: const(1)},
                start=-IDLE,
            ),
            False,
        ),
        (
            "at the HPA floor",
            Scenario({Signal.CPU_SATURATION: const(0.1)}, inv=inventory(hpa_min=3), start=-IDLE),
            False,
        ),
        (
            "above the HPA floor",
            Scenario({Signal.CPU_SATURATION: const(0.1)}, inv=inventory(hpa_min=2), start=-IDLE),
            True,
        ),
        (
            "inventory replicas without the signal",
            Scenario(
                {Signal.CPU_SATURATION: const(0.1)},
                inv=inventory(desired=1),
                drop=[Signal.REPLICAS_AVAILABLE],
                start=-IDLE,
            ),
            False,
        ),
    ],
)
def test_over_provisioned(case: str, scenario: Scenario, fires: bool) -> None:
    finding = detect_over_provisioned(scenario.inputs(0))
    assert (finding is not None) is fires, case
    if finding is not None:
        assert finding.kind is FindingKind.OVER_PROVISIONED
        assert finding.severity is Severity.TICKET and finding.threshold == 0.2
        assert finding.window == timedelta(hours=2)
        assert "3 replicas above the floor" in finding.detail
