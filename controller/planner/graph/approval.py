"""Approval requests and replies: build the request the interrupt carries, judge the reply.

Pure functions of their arguments (``now`` included), so the interrupt node stays a thin
shell: it interrupts first, then calls ``judge_reply`` (R3: bound to one plan hash and one
snapshot, expiring, fail-closed). A reply that does not parse, names another plan hash
(CH-06) or another snapshot, or comes after the deadline is a rejection, never an approval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError

from controller.models.actions import Plan
from controller.models.decisions import (
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
    PolicyDecision,
)

SYSTEM_APPROVER = "system:planner"
"""Who signs the rejections the planner itself produces (invalid, mismatched, expired)."""


def build_request(
    plan: Plan, decision: PolicyDecision, now: datetime, ttl: timedelta
) -> ApprovalRequest:
    """The request for ``decision``'s action: bound to the plan hash and its snapshot."""
    return ApprovalRequest(
        incident_id=plan.incident_id,
        plan_hash=plan.plan_hash(),
        snapshot_at=plan.snapshot_at,
        requested_at=now,
        expires_at=now + ttl,
        action=decision.action,
        summary=plan.rationale,
        reasons=decision.reasons,
    )


def expired_approval(request: ApprovalRequest, now: datetime) -> Approval:
    """The answer an unanswered request gets when its TTL has passed (CH-17)."""
    return _system(request, ApprovalOutcome.EXPIRED, now, "no answer before the deadline")


def withdrawn_approval(request: ApprovalRequest, now: datetime, note: str) -> Approval:
    """The answer a request gets when it no longer needs one (its incident resolved)."""
    return _system(request, ApprovalOutcome.REJECTED, now, note)


def judge_reply(
    reply: object,
    request: ApprovalRequest,
    now: datetime,
    approvers: frozenset[str] | None = None,
) -> Approval:
    """Turn the resume value into the Approval the graph acts on (``now``: resume time).

    The one validation path for answers from every channel. Only an APPROVED reply that
    covers ``request`` (same plan hash and snapshot, decided before ``expires_at``), arrives
    while ``now <= expires_at`` and, when ``approvers`` is given, comes from one of them
    stays an approval.
    """
    try:
        approval = Approval.model_validate(reply)
    except ValidationError as exc:
        detail = f"unreadable reply: {exc.error_count()} validation error(s)"
        return _system(request, ApprovalOutcome.REJECTED, now, detail)
    if approval.plan_hash != request.plan_hash:
        note = f"reply is for plan {approval.plan_hash[:12]}, not {request.plan_hash[:12]}"
        return _rejected(approval, request, ApprovalOutcome.REJECTED, note)
    if approval.snapshot_at != request.snapshot_at:
        note = "reply is for another observation snapshot"
        return _rejected(approval, request, ApprovalOutcome.REJECTED, note)
    if now > request.expires_at or approval.decided_at > request.expires_at:
        note = f"answered after the deadline {request.expires_at.isoformat()}"
        return _rejected(approval, request, ApprovalOutcome.EXPIRED, note)
    if approvers is not None and approval.approver not in approvers:
        note = f"{approval.approver} may not approve this action"
        return _rejected(approval, request, ApprovalOutcome.REJECTED, note)
    return approval


def _rejected(
    approval: Approval, request: ApprovalRequest, outcome: ApprovalOutcome, note: str
) -> Approval:
    """Keep who answered, but bind the outcome to ``request`` and say why it does not count."""
    if approval.outcome is not ApprovalOutcome.APPROVED:
        outcome = approval.outcome
    return approval.model_copy(
        update={
            "plan_hash": request.plan_hash,
            "snapshot_at": request.snapshot_at,
            "outcome": outcome,
            "note": note[:2000],
        }
    )


def _system(
    request: ApprovalRequest, outcome: ApprovalOutcome, now: datetime, note: str
) -> Approval:
    return Approval.to(request, outcome, SYSTEM_APPROVER, now, note)
