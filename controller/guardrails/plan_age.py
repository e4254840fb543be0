"""The plan-age rule: a plan judged long after its observation snapshot is stale (CH-02).

Kept out of ``evaluate`` on purpose: it applies at a plan's first judgement only. An approved
plan is judged again right before the write on fresh facts, and a human's minutes always age
its snapshot, so the same rule there would refuse every approved plan.
"""

from __future__ import annotations

from datetime import datetime

from controller.guardrails.engine import APPROVAL_CODES
from controller.guardrails.loader import LoadedPolicy
from controller.models.actions import Plan
from controller.models.base import format_duration
from controller.models.decisions import PolicyDecision, Reason, ReasonCode, Verdict


def with_plan_age(
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
