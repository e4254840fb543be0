"""Policy decisions with reason codes, approvals, action results and verification verdicts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from controller.models.actions import Action
from controller.models.base import FrozenModel, UtcDatetime
from controller.models.signals import Signal


class Verdict(StrEnum):
    """What the policy engine decided."""

    ALLOW = "allow"
    NEEDS_APPROVAL = "needs_approval"
    DENY = "deny"


class ReasonCode(StrEnum):
    """Why a decision came out as it did. Stable identifiers: metrics and tests key on them."""

    ALLOWED = "allowed"
    NOT_MUTATING = "not_mutating"
    NAMESPACE_PROTECTED = "namespace_protected"
    NAMESPACE_NOT_ALLOWED = "namespace_not_allowed"
    NAMESPACE_DENIED = "namespace_denied"
    KIND_NOT_ALLOWED = "kind_not_allowed"
    TARGET_UNKNOWN = "target_unknown"
    SCALING_OWNED_ELSEWHERE = "scaling_owned_elsewhere"
    REPLICAS_CLAMPED_CEILING = "replicas_clamped_ceiling"
    REPLICAS_CLAMPED_FLOOR = "replicas_clamped_floor"
    STEP_UP_CLAMPED = "step_up_clamped"
    STEP_DOWN_CLAMPED = "step_down_clamped"
    SCALE_TO_ZERO = "scale_to_zero"
    NO_CHANGE = "no_change"
    ROLLBACK_TARGET_UNKNOWN = "rollback_target_unknown"
    ROLLBACK_TOO_DEEP = "rollback_too_deep"
    HPA_MISMATCH = "hpa_mismatch"
    COOLDOWN_ACTIVE = "cooldown_active"
    GLOBAL_RATE_CAP = "global_rate_cap"
    NAMESPACE_RATE_CAP = "namespace_rate_cap"
    CHANGE_FREEZE = "change_freeze"
    INPUTS_STALE = "inputs_stale"
    PLAN_STALE = "plan_stale"
    ROLLOUT_IN_PROGRESS = "rollout_in_progress"
    MODE_FROZEN = "mode_frozen"
    MODE_BLIND = "mode_blind"
    INPUTS_BLIND = "inputs_blind"
    APPROVAL_REQUIRED_KIND = "approval_required_kind"
    APPROVAL_REQUIRED_RISK = "approval_required_risk"
    APPROVAL_REQUIRED_NAMESPACE = "approval_required_namespace"
    APPROVAL_REQUIRED_ROLLOUT = "approval_required_rollout"
    APPROVAL_REQUIRED_DEGRADED = "approval_required_degraded"
    APPROVAL_REQUIRED_DISAGREEMENT = "approval_required_disagreement"
    DRY_RUN = "dry_run"


class Reason(FrozenModel):
    """A reason code with the numbers that triggered it."""

    code: ReasonCode
    detail: str = ""


class PolicyDecision(FrozenModel):
    """The guardrails' verdict on one plan; ``action`` is the possibly clamped action to run."""

    plan_hash: str
    verdict: Verdict
    reasons: tuple[Reason, ...] = Field(min_length=1)
    action: Action
    clamped: bool = False
    dry_run: bool = False
    policy_name: str
    policy_hash: str
    evaluated_at: UtcDatetime

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        """Just the reason codes."""
        return tuple(r.code for r in self.reasons)


class ApprovalOutcome(StrEnum):
    """How a request for approval ended. Expiry is a rejection, never an approval."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalRequest(FrozenModel):
    """What a human is asked to approve: one plan hash, one observation snapshot, a deadline."""

    incident_id: str
    plan_hash: str
    snapshot_at: UtcDatetime
    requested_at: UtcDatetime
    expires_at: UtcDatetime
    action: Action
    summary: str
    reasons: tuple[Reason, ...] = ()


class Approval(FrozenModel):
    """A human's answer, bound to the plan hash and snapshot it was given for."""

    plan_hash: str
    snapshot_at: UtcDatetime
    outcome: ApprovalOutcome
    approver: str = Field(min_length=1, max_length=200)
    decided_at: UtcDatetime
    note: str = Field(default="", max_length=2000)

    @classmethod
    def to(
        cls,
        request: ApprovalRequest,
        outcome: ApprovalOutcome,
        approver: str,
        decided_at: datetime,
        note: str = "",
    ) -> Approval:
        """An answer to ``request``, bound to its plan hash and snapshot."""
        return cls(
            plan_hash=request.plan_hash,
            snapshot_at=request.snapshot_at,
            outcome=outcome,
            approver=approver,
            decided_at=decided_at,
            note=note,
        )

    def covers(self, request: ApprovalRequest) -> bool:
        """Whether this answer is an approval of exactly ``request`` given in time."""
        return (
            self.outcome is ApprovalOutcome.APPROVED
            and self.plan_hash == request.plan_hash
            and self.snapshot_at == request.snapshot_at
            and self.decided_at <= request.expires_at
        )


class ActionStatus(StrEnum):
    """What applying an action did."""

    APPLIED = "applied"
    ALREADY_DONE = "already_done"
    DRY_RUN = "dry_run"
    FAILED = "failed"


class ActionResult(FrozenModel):
    """The outcome of one mutating call, keyed for exactly-once by ``idempotency_key``."""

    plan_hash: str
    idempotency_key: str
    action: Action
    status: ActionStatus
    at: UtcDatetime
    detail: str = ""
    revert_of: str | None = Field(default=None, description="Plan hash this action reverts.")


class VerificationPhase(StrEnum):
    """Four-valued verdict after the bake window: no data is never success."""

    IMPROVED = "improved"
    NOT_IMPROVED = "not_improved"
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"


class VerificationResult(FrozenModel):
    """Before/after comparison of the signal a plan promised to improve."""

    plan_hash: str
    signal: Signal
    phase: VerificationPhase
    baseline: float | None = None
    observed: float | None = None
    relative_change: float | None = None
    at: UtcDatetime
    detail: str = ""
