"""Replay approvers: grant, deny, and recorded answers matched by workload and kind."""

from __future__ import annotations

from datetime import timedelta

from controller.approvals.scripted import DenyAll, GrantAll, RecordedApprovals
from controller.models.actions import RollbackAction, ScaleAction
from controller.models.decisions import ApprovalOutcome, ApprovalRequest
from controller.models.incident_file import RecordedApproval, RecordedApprovalOutcome
from tests.factories import T0, WEB

ROLLBACK = RollbackAction(target=WEB, from_revision=3, to_revision=2)


def _request(action=ROLLBACK) -> ApprovalRequest:
    return ApprovalRequest(
        incident_id="i",
        plan_hash="h",
        snapshot_at=T0,
        requested_at=T0,
        expires_at=T0 + timedelta(minutes=15),
        action=action,
        summary="s",
    )


def _recorded(
    minutes: float, outcome=RecordedApprovalOutcome.APPROVED, kind="rollback"
) -> RecordedApproval:
    return RecordedApproval(
        time=T0 + timedelta(minutes=minutes),
        workload=WEB,
        action_kind=kind,
        outcome=outcome,
        approver="alice@example.com",
    )


def test_grant_and_deny_answer_at_once_and_bind_to_the_plan() -> None:
    granted = GrantAll().decide(_request())
    assert granted.covers(_request())
    denied = DenyAll().decide(_request())
    assert denied.outcome is ApprovalOutcome.REJECTED and not denied.covers(_request())


def test_recorded_answer_arrives_when_the_human_answered() -> None:
    approval = RecordedApprovals([_recorded(6)]).decide(_request())
    assert approval.outcome is ApprovalOutcome.APPROVED
    assert approval.decided_at == T0 + timedelta(minutes=6)
    assert approval.approver == "alice@example.com"
    assert approval.covers(_request())


def test_recorded_answer_after_ttl_expires_into_rejection() -> None:
    approval = RecordedApprovals([_recorded(20)]).decide(_request())
    assert approval.outcome is ApprovalOutcome.EXPIRED
    assert not approval.covers(_request())


def test_no_matching_recorded_answer_expires() -> None:
    approvals = RecordedApprovals([_recorded(1, kind="scale")])
    assert approvals.decide(_request()).outcome is ApprovalOutcome.EXPIRED
    scale = ScaleAction(target=WEB, from_replicas=2, to_replicas=4)
    assert approvals.decide(_request(scale)).outcome is ApprovalOutcome.APPROVED


def test_recorded_answers_are_used_once() -> None:
    approvals = RecordedApprovals([_recorded(1, RecordedApprovalOutcome.REJECTED)])
    assert approvals.decide(_request()).outcome is ApprovalOutcome.REJECTED
    assert approvals.decide(_request()).outcome is ApprovalOutcome.EXPIRED


def test_approval_for_another_plan_does_not_cover() -> None:
    approval = GrantAll().decide(_request())
    other = _request().model_copy(update={"plan_hash": "different"})
    assert not approval.covers(other)
