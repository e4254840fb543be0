"""Every bundled example replays to the outcome its ground truth expects."""

from __future__ import annotations

from collections import Counter

import pytest

from controller.models.actions import ActionKind, EscalateAction
from controller.models.decisions import ActionStatus, ApprovalOutcome
from controller.models.incident import FaultKind
from controller.models.ledger import EntryType
from controller.replay.inputs import ApprovalsMode
from controller.replay.result import TimelineKind
from tests.factories import latency_in_milliseconds_from
from tests.replay.conftest import example, example_names, replay

EXPECTED_ACTION = {
    "bad-deploy": ActionKind.ROLLBACK,
    "traffic-surge-hpa": ActionKind.ADJUST_HPA,
    "crashloop-after-rollout": ActionKind.ROLLBACK,
    "memory-leak": ActionKind.RESTART,
    "quiet-day": None,
}


def test_every_example_is_covered() -> None:
    assert sorted(EXPECTED_ACTION) == example_names()


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTION))
def test_example_replays_to_its_expected_outcome(name: str, policy, runbooks) -> None:
    incident = example(name)
    result, ledger = replay(incident, policy, runbooks)
    truth = incident.ground_truth
    assert truth is not None and result.score is not None
    assert result.score.passed, [c for c in result.score.checks if c.passed is False]
    effective = [a for a in result.actions if a.status is ActionStatus.APPLIED]
    expected = EXPECTED_ACTION[name]
    if expected is None:
        assert result.incidents == () and result.actions == ()
        assert truth.fault is FaultKind.NONE
        return
    # The first effective action is the expected kind, on the root-cause workload.
    assert effective, "no action took effect"
    assert effective[0].action.kind == expected
    assert effective[0].action.target == truth.root_cause
    first = min(result.incidents, key=lambda i: i.opened_at)
    assert first.workload == truth.root_cause
    assert truth.onset is not None
    assert 0 <= (first.opened_at - truth.onset).total_seconds() <= 30 * 60
    # No forbidden kind ever took effect, including on other workloads.
    kinds = {ActionKind(a.action.kind) for a in effective}
    assert not kinds & set(truth.forbidden_actions)


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTION))
def test_ledger_tells_the_same_story_as_the_timeline(name: str, policy, runbooks) -> None:
    result, ledger = replay(example(name), policy, runbooks)
    entries = Counter(e.type for e in ledger.entries)
    stages = Counter(e.kind for e in result.timeline)
    assert entries[EntryType.PROPOSAL] == stages[TimelineKind.PROPOSAL] == len(result.plans)
    assert entries[EntryType.DECISION] == stages[TimelineKind.VERDICT] == len(result.decisions)
    assert entries[EntryType.ACTION] == stages[TimelineKind.ACTION] == len(result.actions)
    assert entries[EntryType.APPROVAL] == len(result.approvals)
    assert entries[EntryType.VERIFICATION] == len(result.verifications)
    # Hash chain is intact.
    for before, after in zip(ledger.entries, ledger.entries[1:], strict=False):
        assert after.prev_hash == before.hash


def test_replay_is_deterministic(policy, runbooks) -> None:
    first, ledger_a = replay(example("bad-deploy"), policy, runbooks)
    second, ledger_b = replay(example("bad-deploy"), policy, runbooks)
    assert first == second
    assert ledger_a.head == ledger_b.head


def test_replay_cannot_look_ahead(policy, runbooks) -> None:
    """Cutting the recording after the first decision changes nothing before the cut."""
    incident = example("bad-deploy")
    full, _ = replay(incident, policy, runbooks)
    cut_at = full.incidents[0].opened_at
    window = incident.window.model_copy(update={"end": cut_at})
    series = tuple(
        s.model_copy(
            update={
                "timestamps": tuple(t for t in s.timestamps if t <= cut_at.timestamp()),
                "values": tuple(
                    v
                    for t, v in zip(s.timestamps, s.values, strict=True)
                    if t <= cut_at.timestamp()
                ),
            }
        )
        for s in incident.series
    )
    truncated = incident.model_copy(update={"window": window, "series": series})
    short, _ = replay(truncated, policy, runbooks)
    assert short.incidents[0] == full.incidents[0]
    assert short.plans[0] == full.plans[0]


def test_denied_approvals_mean_no_action(policy, runbooks) -> None:
    result, _ = replay(example("bad-deploy"), policy, runbooks, approvals=ApprovalsMode.DENY)
    assert result.actions == ()
    assert [a.outcome for a in result.approvals] == [ApprovalOutcome.REJECTED]
    assert any(
        e.kind is TimelineKind.ESCALATION and "rejected" in e.summary for e in result.timeline
    )
    assert result.score is not None and not result.score.passed


def test_recorded_approval_arrives_at_the_recorded_time(policy, runbooks) -> None:
    incident = example("bad-deploy")
    result, _ = replay(incident, policy, runbooks, approvals=ApprovalsMode.RECORDED)
    recorded = incident.recorded.approvals[0]
    assert result.approvals[0].decided_at == max(recorded.time, result.plans[0].snapshot_at)
    assert result.actions[0].at == result.approvals[0].decided_at


def test_one_action_per_incident_even_when_the_diagnosis_changes(policy, runbooks) -> None:
    """After acting on an incident, a changed diagnosis never triggers a second plan."""
    result, _ = replay(example("crashloop-after-rollout"), policy, runbooks)
    acted_on = {a.plan_hash for a in result.actions}
    for incident in result.incidents:
        plans = [p for p in result.plans if p.incident_id == incident.id]
        if any(p.plan_hash() in acted_on for p in plans):
            assert len(plans) == 1, [p.action.kind for p in plans]


def test_rollback_of_a_rollout_in_flight_needs_a_human(policy, runbooks) -> None:
    """The crash-looping rollout never completed: aborting it is a human's call (CH-23)."""
    result, _ = replay(example("crashloop-after-rollout"), policy, runbooks)
    first = result.decisions[0]
    assert first.verdict.value == "needs_approval"
    assert "approval_required_rollout" in [c.value for c in first.codes]


def test_recorded_deploys_move_the_simulated_cluster(policy, runbooks) -> None:
    """With every approval denied, the human's recorded rollback (a deploy event) still
    happens in the replayed world, so the incident is not re-planned as a fresh bad deploy."""
    incident = example("bad-deploy")
    result, _ = replay(incident, policy, runbooks, approvals=ApprovalsMode.DENY)
    assert result.actions == ()
    assert len(result.plans) == 1


def test_symptom_incidents_are_not_remediated(policy, runbooks) -> None:
    """Checkout's errors come from payments: localization ranks payments first (traces show
    the checkout -> payments edge failing first), so checkout's incident escalates."""
    result, _ = replay(example("crashloop-after-rollout"), policy, runbooks)
    checkout = next(i for i in result.incidents if i.workload.name == "checkout")
    assert checkout.candidates[0].workload.name == "payments"
    plan = next(p for p in result.plans if p.incident_id == checkout.id)
    assert isinstance(plan.action, EscalateAction)
    assert "symptom" in plan.action.reason
    assert all(a.action.target != checkout.workload for a in result.actions)


def test_a_fleet_wide_unit_change_freezes_the_controller(policy, runbooks) -> None:
    """CH-09: latency jumps x1000 on every workload at once (a recording rule switched to
    milliseconds). The controller freezes: no action, a mode change in the ledger."""
    incident = example("quiet-day")
    switch = incident.window.start.timestamp() + 6 * 3600
    broken = latency_in_milliseconds_from(incident, switch).model_copy(
        update={"ground_truth": None}
    )
    result, ledger = replay(broken, policy, runbooks)
    assert result.actions == ()
    modes = [e for e in result.timeline if e.kind is TimelineKind.MODE]
    assert modes and modes[0].summary.startswith("mode frozen")
    assert any(e.type is EntryType.MODE for e in ledger.entries)
    first_detection = min(e.at for e in result.timeline if e.kind is TimelineKind.DETECTION)
    assert modes[0].at <= first_detection, "the freeze comes before any plan could act"
    assert "unit" in modes[0].summary or "step" in modes[0].summary
