"""Replay approvers: grant, deny, and recorded answers matched by workload and kind."""

from __future__ import annotations

from datetime import timedelta

from controller.approvals.scripted import DenyAll, GrantAll, RecordedApprovals
from controller.models.actions import RollbackAction, ScaleAction
from controller.models.decisions import ApprovalOutcome, ApprovalRequest
from controller.models.incident_file import RecordedApproval, RecordedApprovalOutcome
from controller.planner.graph.approval import judge_reply
from controller.state.inbox import StoredInbox
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
    granted = GrantAll(StoredInbox()).decide(_request())
    assert granted.covers(_request())
    denied = DenyAll(StoredInbox()).decide(_request())
    assert denied.outcome is ApprovalOutcome.REJECTED and not denied.covers(_request())


def test_recorded_answer_arrives_when_the_human_answered() -> None:
    approval = RecordedApprovals([_recorded(6)], StoredInbox()).decide(_request())
    assert approval.outcome is ApprovalOutcome.APPROVED
    assert approval.decided_at == T0 + timedelta(minutes=6)
    assert approval.approver == "alice@example.com"
    assert approval.covers(_request())


def test_recorded_answer_after_ttl_expires_into_rejection() -> None:
    approval = RecordedApprovals([_recorded(20)], StoredInbox()).decide(_request())
    assert approval.outcome is ApprovalOutcome.EXPIRED
    assert not approval.covers(_request())


def test_no_matching_recorded_answer_expires() -> None:
    approvals = RecordedApprovals([_recorded(1, kind="scale")], StoredInbox())
    assert approvals.decide(_request()).outcome is ApprovalOutcome.EXPIRED
    scale = ScaleAction(target=WEB, from_replicas=2, to_replicas=4)
    assert approvals.decide(_request(scale)).outcome is ApprovalOutcome.APPROVED


def test_recorded_answers_are_used_once() -> None:
    approvals = RecordedApprovals([_recorded(1, RecordedApprovalOutcome.REJECTED)], StoredInbox())
    assert approvals.decide(_request()).outcome is ApprovalOutcome.REJECTED
    assert approvals.decide(_request()).outcome is ApprovalOutcome.EXPIRED


def test_approval_for_another_plan_does_not_cover() -> None:
    approval = GrantAll(StoredInbox()).decide(_request())
    other = _request().model_copy(update={"plan_hash": "different"})
    assert not approval.covers(other)


def test_post_drops_the_answer_into_the_inbox_at_its_time() -> None:
    inbox = StoredInbox()
    RecordedApprovals([_recorded(6)], inbox).post(_request())
    assert inbox.take("h", T0 + timedelta(minutes=5)) is None  # not yet: the human was later
    answer = inbox.take("h", T0 + timedelta(minutes=6))
    assert answer is not None and answer.approver == "alice@example.com"
    assert inbox.take("h", T0 + timedelta(minutes=7)) is None  # used once


def test_a_duplicate_answer_is_ignored() -> None:
    inbox = StoredInbox()
    GrantAll(inbox).post(_request())
    assert not inbox.put(DenyAll(inbox).decide(_request()))
    answer = inbox.take("h", T0)
    assert answer is not None and answer.outcome is ApprovalOutcome.APPROVED


def test_an_answer_from_someone_not_allowed_is_a_rejection() -> None:
    answer = GrantAll(StoredInbox()).decide(_request())
    allowed = frozenset({"slack:alice"})
    judged = judge_reply(answer.model_dump(mode="json"), _request(), T0, allowed)
    assert judged.outcome is ApprovalOutcome.REJECTED and not judged.covers(_request())
    assert judged.approver == "replay:grant" and "may not approve" in judged.note
    by_alice = answer.model_copy(update={"approver": "slack:alice"})
    assert judge_reply(by_alice.model_dump(mode="json"), _request(), T0, allowed).covers(_request())
    assert judge_reply(answer.model_dump(mode="json"), _request(), T0).covers(_request())
