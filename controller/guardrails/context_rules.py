"""Verdict rules that depend on where a plan came from, applied inside ``evaluate``.

The plan-age rule (CH-02) applies at a plan's first judgement only: an approved plan is
judged again right before the write on fresh facts, and a human's minutes always age its
snapshot, so the same rule there would refuse every approved plan. The disagreement rule
(CH-06) makes a human approve an LLM plan that differs from the runbook plan. Both can only
add friction: a denial stays a denial.
"""

from __future__ import annotations

from datetime import datetime

from controller.guardrails.codes import APPROVAL_CODES
from controller.guardrails.loader import LoadedPolicy
from controller.models.actions import Plan
from controller.models.base import format_duration
from controller.models.decisions import PolicyDecision, Reason, ReasonCode, Verdict


def plan_age_rule(
    decision: PolicyDecision, plan: Plan, policy: LoadedPolicy, now: datetime
) -> PolicyDecision:
    """Deny a plan whose observation snapshot is older than ``freshnessMax`` when first
    judged (a late LLM answer, CH-02): it answers a diagnosis that may no longer hold.

    Only the first judgement applies this; an approved plan is re-judged on fresh facts
    right before the write instead, because a human's minutes always age the snapshot.
    """
    limit = policy.policy.spec.freshness_max
    age = now - plan.snapshot_at
    if age <= limit:
        return decision
    detail = (
        f"plan rests on observations {format_duration(age)} old "
        f"(freshnessMax {format_duration(limit)}): re-plan on a fresh snapshot"
    )
    reasons = tuple(
        r for r in decision.reasons if r.code not in APPROVAL_CODES | {ReasonCode.ALLOWED}
    )
    return decision.model_copy(
        update={
            "verdict": Verdict.DENY,
            "reasons": (*reasons, Reason(code=ReasonCode.PLAN_STALE, detail=detail)),
        }
    )


def disagreement_rule(decision: PolicyDecision, detail: str) -> PolicyDecision:
    """Turn an ALLOW into NEEDS_APPROVAL (or add to one) because the planners disagree.

    A denial stays a denial: a disagreement can only add friction, never remove it.
    """
    if decision.verdict is Verdict.DENY:
        return decision
    reason = Reason(code=ReasonCode.APPROVAL_REQUIRED_DISAGREEMENT, detail=detail[:2000])
    kept = tuple(r for r in decision.reasons if r.code is not ReasonCode.ALLOWED)
    return decision.model_copy(
        update={"verdict": Verdict.NEEDS_APPROVAL, "reasons": (*kept, reason)}
    )
