"""The Remediation resource as JSON: built from the domain models, and read back into them.

Pure functions, no I/O, so the shape of ``remediations.aiops.dev`` (the chart's CRD) is
tested without a server. What goes where:

- ``spec``: the plan (incident id, plan hash, snapshot, target, action, params, what
  verification will check), the policy's verdict and reasons, the request's deadline and
  ``answer``, the one field a human writes (``aiops approve|reject`` or kubectl);
- ``status`` (the controller only, through the status subresource): phase, the judged
  approval, the action's result, the verification, conditions.

An answer becomes an ``Approval`` bound to the Remediation's own plan hash and snapshot,
signed ``kube:<user>`` and dated when the controller first saw it (its own clock: a client's
``at`` could be back-dated past the deadline). The planner then judges it like every other
channel's (``planner.graph.approval.judge_reply``).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from controller.kube.objects import CustomType
from controller.models.actions import ACTION_ADAPTER, Action, Plan, is_mutating
from controller.models.decisions import (
    ActionResult,
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
    PolicyDecision,
    Reason,
    VerificationResult,
)

Obj = dict[str, Any]

REMEDIATIONS = CustomType("aiops.dev", "v1alpha1", "remediations")
API_VERSION = "aiops.dev/v1alpha1"
KIND = "Remediation"
PLAN_LABEL = "aiops.dev/plan-hash"
"""Label with the plan hash's first 40 hex digits: find a Remediation by plan hash."""
INCIDENT_LABEL = "aiops.dev/incident"
CHANNEL = "kube"
"""Approvers answering through the Remediation are ``kube:<kubeconfig user>``."""
MAX_REASONS = 50


class Phase(StrEnum):
    """The lifecycle of one proposal (``status.phase``)."""

    PROPOSED = "proposed"
    PENDING_APPROVAL = "pending-approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    APPLYING = "applying"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    REVERTED = "reverted"
    FAILED = "failed"


FINAL = frozenset({Phase.REJECTED, Phase.EXPIRED, Phase.SUCCEEDED, Phase.REVERTED, Phase.FAILED})
"""Phases nothing moves out of (a replayed ledger entry cannot regress a Remediation)."""


def rfc3339(when: datetime) -> str:
    """``2026-03-10T12:00:00Z`` (whole seconds are what ``kubectl`` shows anyway)."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _precise(when: datetime) -> str:
    """A timestamp that must round-trip exactly (the snapshot an approval binds to)."""
    return when.isoformat().replace("+00:00", "Z")


def remediation_name(action: Action, plan_hash: str) -> str:
    """``checkout-rollback-3f2a9c1b7e``: readable in ``kubectl get``, unique per plan hash,
    a DNS-1123 subdomain of at most 63 characters (so it fits a label value too)."""
    kind = action.kind.replace("_", "-")
    target = action.target.name if action.target is not None else "cluster"
    suffix = f"-{kind}-{plan_hash[:10]}"
    head = re.sub(r"[^a-z0-9-]", "-", target.lower())[: 63 - len(suffix)].strip("-.")
    return f"{head or 'workload'}{suffix}"


def _params(action: Action) -> Obj:
    return {k: v for k, v in action.model_dump(mode="json").items() if k not in ("kind", "target")}


def _reasons(reasons: tuple[Reason, ...]) -> list[Obj]:
    return [{"code": r.code.value, "detail": r.detail[:2000]} for r in reasons[:MAX_REASONS]]


def _labels(plan_hash: str, incident_id: str) -> dict[str, str]:
    incident = re.sub(r"[^A-Za-z0-9_.-]", "-", incident_id)[:63].strip("-_.")
    labels = {PLAN_LABEL: plan_hash[:40], "app.kubernetes.io/managed-by": "aiops-controller"}
    if incident:
        labels[INCIDENT_LABEL] = incident
    return labels


def _body(
    action: Action, incident_id: str, plan_hash: str, snapshot_at: datetime, mode: str
) -> Obj:
    if action.target is None or not is_mutating(action):
        raise ValueError(f"a Remediation needs a mutating action with a target, not {action.kind}")
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": remediation_name(action, plan_hash),
            "namespace": action.target.namespace,
            "labels": _labels(plan_hash, incident_id),
        },
        "spec": {
            "incidentId": incident_id,
            "planHash": plan_hash,
            "snapshotAt": _precise(snapshot_at),
            "target": {
                "namespace": action.target.namespace,
                "name": action.target.name,
                "kind": action.target.kind,
            },  # fmt: skip
            "action": action.kind,
            "params": _params(action),
            "mode": mode,
        },
    }


def proposal_body(plan: Plan, mode: str) -> Obj:
    """A new Remediation for ``plan`` (ValueError for a plan that changes nothing)."""
    body = _body(plan.action, plan.incident_id, plan.plan_hash(), plan.snapshot_at, mode)
    body["spec"]["summary"] = plan.rationale[:4000]
    if plan.verification is not None:
        body["spec"]["verify"] = {
            "signal": plan.verification.signal.value,
            "expect": plan.verification.expect,
            "bakeSeconds": int(plan.verification.bake.total_seconds()),
        }
    return body


def request_body(request: ApprovalRequest, mode: str) -> Obj:
    """A Remediation for a request whose proposal was not recorded (the channel alone)."""
    body = _body(request.action, request.incident_id, request.plan_hash, request.snapshot_at, mode)
    body["spec"].update(request_spec(request))
    return body


def request_spec(request: ApprovalRequest) -> Obj:
    """The spec fields an approval request adds: its deadline, summary and reasons."""
    return {
        "requestedAt": _precise(request.requested_at),
        "expiresAt": _precise(request.expires_at),
        "summary": request.summary[:4000],
        "verdict": "needs_approval",
        "reasons": _reasons(request.reasons),
    }


def decision_spec(decision: PolicyDecision) -> Obj:
    """The spec fields of the policy's first judgement."""
    return {"verdict": decision.verdict.value, "reasons": _reasons(decision.reasons)}


def phase_of(obj: Obj) -> Phase | None:
    """The Remediation's phase (None: no status yet, or one this version does not know)."""
    value = (obj.get("status") or {}).get("phase")
    try:
        return Phase(value) if isinstance(value, str) else None
    except ValueError:
        return None


def request_of(obj: Obj) -> ApprovalRequest | None:
    """The approval request a Remediation records (None: it never asked, or is unreadable)."""
    spec = obj.get("spec") or {}
    if "expiresAt" not in spec:
        return None
    try:
        action = ACTION_ADAPTER.validate_python(
            {
                **(spec.get("params") or {}),
                "kind": spec.get("action"),
                "target": spec.get("target"),
            }  # fmt: skip
        )
        return ApprovalRequest.model_validate(
            {
                "incident_id": spec.get("incidentId"),
                "plan_hash": spec.get("planHash"),
                "snapshot_at": spec.get("snapshotAt"),
                "requested_at": spec.get("requestedAt"),
                "expires_at": spec.get("expiresAt"),
                "action": action,
                "summary": spec.get("summary") or "",
                "reasons": spec.get("reasons") or [],
            }
        )
    except ValidationError:
        return None


def answer_of(obj: Obj, seen_at: datetime) -> Approval | None:
    """The human's answer in ``spec.answer`` as an Approval, or None when there is none.

    Bound to the Remediation's plan hash and snapshot; an answer that does not parse is a
    rejection (fail closed), never dropped silently.
    """
    spec = obj.get("spec") or {}
    answer = spec.get("answer")
    if answer is None:
        return None
    raw = answer if isinstance(answer, dict) else {}
    decision = raw.get("decision")
    outcome = ApprovalOutcome.APPROVED if decision == "approve" else ApprovalOutcome.REJECTED
    by = str(raw.get("by") or "").strip()[:190] or "unknown"
    note = str(raw.get("reason") or "")[:2000]
    if decision not in ("approve", "reject"):
        note = f"unreadable answer {str(decision)[:40]!r}: treated as a rejection"
    try:
        return Approval.model_validate(
            {
                "plan_hash": spec.get("planHash"),
                "snapshot_at": spec.get("snapshotAt"),
                "outcome": outcome,
                "approver": f"{CHANNEL}:{by}",
                "decided_at": seen_at,
                "note": note,
            }
        )
    except ValidationError:
        return None


def answer_patch(decision: str, reason: str, by: str, at: datetime, version: str) -> Obj:
    """The merge patch ``aiops approve|reject`` sends (conditional on ``version``)."""
    return {
        "metadata": {"resourceVersion": version},
        "spec": {"answer": {"decision": decision, "reason": reason, "by": by, "at": rfc3339(at)}},
    }


# ----- status ---------------------------------------------------------------------------------


def channel_of(approver: str) -> str:
    """``kube`` for ``kube:alice``, ``system`` for ``system:planner``."""
    return approver.split(":", 1)[0] if ":" in approver else "unknown"


def approval_status(approval: Approval) -> Obj:
    """``status.approval``: who answered, when, through which channel, and why."""
    return {
        "outcome": approval.outcome.value,
        "approver": approval.approver,
        "channel": channel_of(approval.approver),
        "decidedAt": rfc3339(approval.decided_at),
        "reason": approval.note[:2000],
    }


def result_status(result: ActionResult) -> Obj:
    """``status.result``: what the write did."""
    found: Obj = {
        "status": result.status.value,
        "detail": result.detail[:2000],
        "at": rfc3339(result.at),
        "idempotencyKey": result.idempotency_key[:64],
    }
    if result.revert_of is not None:
        found["revertOf"] = result.revert_of[:64]
    return found


def verification_status(verification: VerificationResult) -> Obj:
    """``status.verification``: the verdict after the bake window."""
    return {
        "phase": verification.phase.value,
        "signal": verification.signal.value,
        "detail": verification.detail[:2000],
        "at": rfc3339(verification.at),
    }


def with_condition(
    obj: Obj, kind: str, ok: bool, reason: str, message: str, at: datetime
) -> list[Obj]:
    """``status.conditions`` with ``kind`` set (its transition time kept when unchanged)."""
    listed = [c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    status = "True" if ok else "False"
    old = next((c for c in listed if c.get("type") == kind), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    entry = {"type": kind, "status": status, "reason": reason[:100], "message": message[:2000],
             "lastTransitionTime": since or rfc3339(at)}  # fmt: skip
    return [c for c in listed if c.get("type") != kind] + [entry]
