"""Diagnosis: change correlation first, then the findings' own patterns, alternatives ranked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controller.detection.diagnosis import diagnose, suspect_change
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import FaultKind, Finding, FindingKind, Severity
from tests.unit.detection.detection_helpers import WEB, at, event, minutes

WINDOW = timedelta(minutes=30)
K = FindingKind
F = FaultKind


def finding(kind: FindingKind, since_minutes: float = 0.0) -> Finding:
    return Finding(
        kind=kind,
        workload=WEB,
        severity=Severity.PAGE,
        since=at(minutes(since_minutes)),
        value=2.5,
        threshold=1.0,
        detail=f"{kind.value} at 2.5 against 1.0",
    )


def deploy(minutes_before_onset: float, kind: EventKind = EventKind.DEPLOY) -> ClusterEvent:
    return event(kind, -minutes(minutes_before_onset), revision=42)


@pytest.mark.parametrize(
    ("kinds", "events", "lead", "with_change"),
    [
        ((K.SLO_BURN,), [deploy(10)], F.BAD_DEPLOY, True),
        ((K.LATENCY,), [deploy(10)], F.BAD_DEPLOY, True),
        ((K.LATENCY,), [deploy(10, EventKind.CONFIG_CHANGE)], F.BAD_DEPLOY, True),
        ((K.LATENCY,), [deploy(120)], F.LATENCY_REGRESSION, False),
        ((K.LATENCY,), [deploy(-5)], F.LATENCY_REGRESSION, False),  # after the onset
        ((K.LATENCY,), [event(EventKind.SCALE, -minutes(5))], F.LATENCY_REGRESSION, False),
        ((K.SLO_BURN,), [], F.UNKNOWN, False),
        ((K.SLO_BURN, K.LATENCY), [], F.UNKNOWN, False),
        ((K.CRASH_LOOP,), [deploy(10)], F.CRASH_LOOP, True),
        ((K.CRASH_LOOP, K.SLO_BURN), [deploy(10)], F.CRASH_LOOP, True),
        ((K.RESTART_BURST,), [], F.CRASH_LOOP, False),
        ((K.CRASH_LOOP,), [deploy(120)], F.CRASH_LOOP, False),
        ((K.CPU_SATURATION,), [], F.SATURATION, False),
        ((K.CPU_SATURATION, K.LATENCY), [], F.SATURATION, False),
        ((K.CPU_SATURATION, K.LATENCY), [deploy(10)], F.BAD_DEPLOY, True),
        ((K.MEMORY_SATURATION,), [], F.SATURATION, False),
        ((K.MEMORY_LEAK, K.MEMORY_SATURATION), [], F.MEMORY_LEAK, False),
        ((K.MEMORY_LEAK, K.RESTART_BURST), [], F.MEMORY_LEAK, False),
        ((K.OVER_PROVISIONED,), [], F.OVER_PROVISIONING, False),
        ((K.STUCK_ROLLOUT,), [deploy(10)], F.STUCK_ROLLOUT, True),
        ((K.STUCK_ROLLOUT,), [], F.STUCK_ROLLOUT, False),
    ],
)
def test_lead_hypothesis(
    kinds: tuple[FindingKind, ...],
    events: list[ClusterEvent],
    lead: FaultKind,
    with_change: bool,
) -> None:
    hypotheses = diagnose(WEB, [finding(kind) for kind in kinds], events, WINDOW)
    assert hypotheses[0].fault is lead
    assert (hypotheses[0].change is not None) is with_change
    if with_change:
        assert hypotheses[0].change == events[0]


def test_bad_deploy_ranking_quotes_numbers_and_keeps_alternatives() -> None:
    findings = [finding(K.LATENCY), finding(K.CPU_SATURATION, since_minutes=-1)]
    hypotheses = diagnose(WEB, findings, [deploy(10)], WINDOW)
    faults = [h.fault for h in hypotheses]
    assert faults == [F.BAD_DEPLOY, F.SATURATION, F.LATENCY_REGRESSION, F.UNKNOWN]
    assert hypotheses[0].confidence == 0.85
    confidences = [h.confidence for h in hypotheses]
    assert confidences == sorted(confidences, reverse=True) and len(set(confidences)) == 4
    assert "10m before the onset at 12:00:00Z" in hypotheses[0].rationale
    assert "revision 42" in hypotheses[0].rationale
    assert "latency at 2.5 against 1.0" in hypotheses[0].rationale
    assert all(h.workload == WEB for h in hypotheses)


def test_without_a_change_the_rationale_says_so() -> None:
    hypotheses = diagnose(WEB, [finding(K.LATENCY)], [deploy(120)], WINDOW)
    assert [h.fault for h in hypotheses] == [F.LATENCY_REGRESSION, F.UNKNOWN]
    assert hypotheses[0].confidence == 0.7
    assert "no deploy or config change within 30m before the onset" in hypotheses[0].rationale


def test_change_before_a_non_user_facing_finding_stays_an_alternative() -> None:
    hypotheses = diagnose(WEB, [finding(K.CPU_SATURATION)], [deploy(5)], WINDOW)
    assert [h.fault for h in hypotheses] == [F.SATURATION, F.BAD_DEPLOY, F.UNKNOWN]
    assert hypotheses[1].change is not None


def test_unknown_lead_has_low_confidence() -> None:
    [lead, *_] = diagnose(WEB, [finding(K.SLO_BURN)], [], WINDOW)
    assert lead.fault is F.UNKNOWN and lead.confidence == 0.3


def test_change_window_is_measured_from_the_symptoms_onset() -> None:
    # Idle CPU since two hours; errors started now, 10 minutes after a deploy.
    findings = [finding(K.OVER_PROVISIONED, since_minutes=-120), finding(K.SLO_BURN)]
    assert diagnose(WEB, findings, [deploy(10)], WINDOW)[0].fault is F.BAD_DEPLOY


@pytest.mark.parametrize(("before", "suspect"), [(0, True), (30, True), (30.5, False)])
def test_change_window_bounds(before: float, suspect: bool) -> None:
    change = deploy(before)
    assert (suspect_change([change], at(0), WINDOW) is not None) is suspect


def test_newest_change_in_the_window_is_the_suspect() -> None:
    older, newer = deploy(20), deploy(5, EventKind.CONFIG_CHANGE)
    assert suspect_change([older, newer], at(0), WINDOW) == newer


def test_no_findings_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one finding"):
        diagnose(WEB, [], [], WINDOW)


def test_errors_with_latency_and_no_change_lead_with_unknown() -> None:
    hypotheses = diagnose(WEB, [finding(K.SLO_BURN), finding(K.LATENCY)], [], WINDOW)
    assert [h.fault for h in hypotheses] == [F.UNKNOWN, F.LATENCY_REGRESSION]
    assert hypotheses[1].confidence < hypotheses[0].confidence
