"""Which reason codes make a verdict DENY, NEEDS_APPROVAL, or only inform (pure data)."""

from __future__ import annotations

from controller.models.decisions import ReasonCode

DENIAL_CODES = frozenset(
    {
        ReasonCode.NAMESPACE_PROTECTED,
        ReasonCode.NAMESPACE_DENIED,
        ReasonCode.NAMESPACE_NOT_ALLOWED,
        ReasonCode.KIND_NOT_ALLOWED,
        ReasonCode.TARGET_UNKNOWN,
        ReasonCode.SCALING_OWNED_ELSEWHERE,
        ReasonCode.HPA_MISMATCH,
        ReasonCode.NO_CHANGE,
        ReasonCode.ROLLBACK_TARGET_UNKNOWN,
        ReasonCode.ROLLBACK_TOO_DEEP,
        ReasonCode.INPUTS_BLIND,
        ReasonCode.INPUTS_STALE,
        ReasonCode.MODE_FROZEN,
        ReasonCode.MODE_BLIND,
        ReasonCode.PLAN_STALE,
        ReasonCode.ROLLOUT_IN_PROGRESS,
        ReasonCode.COOLDOWN_ACTIVE,
        ReasonCode.GLOBAL_RATE_CAP,
        ReasonCode.NAMESPACE_RATE_CAP,
        ReasonCode.CHANGE_FREEZE,
    }
)
"""Any of these makes the verdict DENY."""
CLAMP_CODES = frozenset(
    {
        ReasonCode.SCALE_TO_ZERO,
        ReasonCode.REPLICAS_CLAMPED_CEILING,
        ReasonCode.REPLICAS_CLAMPED_FLOOR,
        ReasonCode.STEP_UP_CLAMPED,
        ReasonCode.STEP_DOWN_CLAMPED,
    }
)
"""Informational: the decision's action is smaller than the plan's."""
APPROVAL_CODES = frozenset(
    {
        ReasonCode.APPROVAL_REQUIRED_KIND,
        ReasonCode.APPROVAL_REQUIRED_RISK,
        ReasonCode.APPROVAL_REQUIRED_NAMESPACE,
        ReasonCode.APPROVAL_REQUIRED_ROLLOUT,
        ReasonCode.APPROVAL_REQUIRED_DEGRADED,
        ReasonCode.APPROVAL_REQUIRED_DISAGREEMENT,
    }
)
"""Any of these (and no denial) makes the verdict NEEDS_APPROVAL."""
TEMPORARY_DENIALS = frozenset(
    {
        ReasonCode.COOLDOWN_ACTIVE,
        ReasonCode.GLOBAL_RATE_CAP,
        ReasonCode.NAMESPACE_RATE_CAP,
        ReasonCode.CHANGE_FREEZE,
        ReasonCode.INPUTS_STALE,
        ReasonCode.INPUTS_BLIND,
        ReasonCode.ROLLOUT_IN_PROGRESS,
        ReasonCode.MODE_FROZEN,
        ReasonCode.MODE_BLIND,
        ReasonCode.PLAN_STALE,
    }
)
"""Denials that may lift by themselves (time passes, data returns, a rollout ends, a fresh
plan is made): the incident is planned again later instead of being dropped."""
