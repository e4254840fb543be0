"""Remediations: the durable, HA-safe record of every proposal, and the kubectl answer inbox.

Three pieces over the ``remediations.aiops.dev`` CRD (``charts/aiops-controller/crds/``):

- ``RemediationStore``: creates one Remediation per proposal under a name derived from the
  plan hash (creating it twice is a no-op, so a re-plan to the same plan or a new leader
  replaying a step changes nothing), moves its ``status.phase`` through the lifecycle, lists
  the pending approvals (a new leader rebuilds them from the cluster, not from a replica's
  disk) and reads the answers humans wrote into ``spec.answer``.
- ``RemediationChannel``: the ``ApprovalChannel`` that publishes a request as a Remediation;
  ``poll()`` drops each new answer into the ``ApprovalInbox``, where the planner judges it
  exactly like a console or Slack answer (plan hash, snapshot, deadline, approvers).
- ``RemediationLedger``: a ``LedgerSink`` that appends to the real ledger first, then
  mirrors each lifecycle entry (proposal, decision, approval request, approval, action,
  verification, escalation) onto the proposal's Remediation. The ledger stays the record of
  truth: a failed mirror write is logged and never fails the planner.

Status writes go through the status subresource, spec writes through the main resource
(RBAC: humans get ``patch remediations``, only the controller ``remediations/status``).
A phase in ``FINAL`` never changes again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from kubernetes.client import ApiClient
from pydantic import ValidationError

from controller.errors import AiopsError, InputError, PermanentError
from controller.kube.client import Timeouts
from controller.kube.errors import ConflictError
from controller.kube.objects import ObjectCalls
from controller.kube.remediation_body import (
    FINAL,
    PLAN_LABEL,
    REMEDIATIONS,
    Phase,
    answer_of,
    answer_patch,
    approval_status,
    decision_spec,
    phase_of,
    proposal_body,
    request_body,
    request_of,
    request_spec,
    result_status,
    verification_status,
    with_condition,
)
from controller.models.actions import Plan, is_mutating
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
    Verdict,
    VerificationPhase,
    VerificationResult,
)
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.ledger_payloads import DecisionPayload
from controller.ports import ApprovalInbox, Clock, LedgerSink
from controller.settings import RetrySettings

log = structlog.get_logger("aiops.kube.remediations")
Obj = dict[str, Any]

STORE_RETRY = RetrySettings(attempts=2)
"""Remediation writes run on the planner's thread: one retry, then log and move on."""
_OUTCOME_PHASE = {
    ApprovalOutcome.APPROVED: Phase.APPROVED,
    ApprovalOutcome.REJECTED: Phase.REJECTED,
    ApprovalOutcome.EXPIRED: Phase.EXPIRED,
}


class RemediationStore:
    """Remediation objects through the real client (``mode``: shadow, propose or auto)."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        timeouts: Timeouts,
        clock: Clock,
        mode: str = "shadow",
        retry: RetrySettings = STORE_RETRY,
    ) -> None:
        self.calls = ObjectCalls(api_client, timeouts=timeouts, retry=retry)
        self._clock = clock
        self.mode = mode
        self._where: dict[str, tuple[str, str]] = {}
        """plan hash -> (namespace, name), filled by creates and lookups."""

    # ----- finding one -----

    def find(self, plan_hash: str) -> Obj | None:
        """The Remediation of ``plan_hash``, or None (by the cache, else by its label)."""
        known = self._where.get(plan_hash)
        if known is not None:
            found = self.calls.get_custom(REMEDIATIONS, *known)
            if found is not None:
                return found
        selector = f"{PLAN_LABEL}={plan_hash[:40]}"
        for obj in self.calls.list_custom(REMEDIATIONS, None, label_selector=selector):
            if (obj.get("spec") or {}).get("planHash") == plan_hash:
                self._remember(obj)
                return obj
        return None

    def _remember(self, obj: Obj) -> None:
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        plan_hash = spec.get("planHash")
        if isinstance(plan_hash, str):
            self._where[plan_hash] = (str(meta.get("namespace")), str(meta.get("name")))

    # ----- creating -----

    def propose(self, plan: Plan) -> Obj | None:
        """Create the Remediation of ``plan`` (phase ``proposed``); the existing one when it
        is already there. None for a plan that changes nothing (no_action, escalate)."""
        if not is_mutating(plan.action):
            return None
        return self._create(proposal_body(plan, self.mode), Phase.PROPOSED, "proposed")

    def publish(self, request: ApprovalRequest) -> Obj:
        """Record ``request`` on its Remediation (created when missing): pending-approval."""
        found = self.find(request.plan_hash)
        if found is None:
            found = self._create(
                request_body(request, self.mode), Phase.PENDING_APPROVAL, "awaiting an answer"
            )
        elif "expiresAt" not in (found.get("spec") or {}):
            found = self._patch_spec(found, request_spec(request))
        return self.transition(found, Phase.PENDING_APPROVAL, _asking(request))

    def _create(self, body: Obj, phase: Phase, reason: str) -> Obj:
        namespace = body["metadata"]["namespace"]
        try:
            created = self.calls.create_custom(REMEDIATIONS, namespace, body)
        except ConflictError:  # AlreadyExists: the same plan hash, proposed again
            existing = self.calls.get_custom(REMEDIATIONS, namespace, body["metadata"]["name"])
            if existing is None:
                raise
            self._remember(existing)
            return existing
        self._remember(created)
        log.info("remediation created", remediation=_name(created), phase=phase.value)
        return self.transition(created, phase, reason)

    def _patch_spec(self, obj: Obj, spec: Obj) -> Obj:
        meta = obj.get("metadata") or {}
        return self.calls.patch_custom(
            REMEDIATIONS, str(meta["namespace"]), str(meta["name"]), {"spec": spec}
        )

    # ----- moving through the lifecycle -----

    def transition(self, obj: Obj, phase: Phase, reason: str, **status: Any) -> Obj:
        """Set ``status.phase`` (and the given status fields) unless the phase is final."""
        current = phase_of(obj)
        if current in FINAL and current is not phase:
            log.info("remediation phase kept", remediation=_name(obj), phase=str(current))
            return obj
        meta = obj.get("metadata") or {}
        generation = int(meta.get("generation") or 1)
        body = {
            "status": {
                "phase": phase.value,
                "reason": reason[:2000],
                "observedGeneration": generation,
                **status,
            }
        }
        updated = self.calls.patch_custom(
            REMEDIATIONS, str(meta["namespace"]), str(meta["name"]), body, status=True
        )
        if current is not phase:
            log.info("remediation phase", remediation=_name(obj), phase=phase.value)
        return updated

    def record(self, entry_type: EntryType, payload: Mapping[str, Any], plan_hash: str) -> None:
        """Mirror one ledger entry of ``plan_hash`` onto its Remediation (see the module)."""
        if entry_type is EntryType.PROPOSAL:
            self.propose(Plan.model_validate(payload))
            return
        if entry_type is EntryType.APPROVAL_REQUESTED:
            self.publish(ApprovalRequest.model_validate(payload))
            return
        if entry_type not in _STEPS:
            return
        found = self.find(plan_hash)
        if found is None:
            return  # not a Remediation's step (no_action, escalate without a plan)
        _STEPS[entry_type](self, found, payload)

    def _decision(self, obj: Obj, payload: Mapping[str, Any]) -> None:
        judged = DecisionPayload.model_validate(payload)
        decision, codes = judged.decision, ", ".join(c.value for c in judged.decision.codes)
        if judged.revalidation:
            if decision.verdict is Verdict.DENY:
                self.transition(obj, Phase.FAILED, f"re-checked before the write: denied ({codes})")
            else:
                self.transition(obj, Phase.APPLYING, "re-checked before the write: applying")
            return
        obj = self._patch_spec(obj, decision_spec(decision))
        if decision.verdict is Verdict.DENY:
            self.transition(obj, Phase.REJECTED, f"denied by policy: {codes}")
        elif decision.verdict is Verdict.NEEDS_APPROVAL:
            self.transition(obj, Phase.PENDING_APPROVAL, f"needs approval: {codes}")
        else:
            self.transition(obj, Phase.PROPOSED, f"allowed by policy: {codes}")

    def _approval(self, obj: Obj, payload: Mapping[str, Any]) -> None:
        approval = Approval.model_validate(payload)
        phase = _OUTCOME_PHASE[approval.outcome]
        why = f"{approval.outcome.value} by {approval.approver}"
        why += f": {approval.note}" if approval.note else ""
        ok = approval.outcome is ApprovalOutcome.APPROVED
        conditions = with_condition(obj, "Approved", ok, approval.outcome.value, why,
                                    approval.decided_at)  # fmt: skip
        self.transition(obj, phase, why, approval=approval_status(approval),
                        conditions=conditions)  # fmt: skip

    def _action(self, obj: Obj, payload: Mapping[str, Any]) -> None:
        result = ActionResult.model_validate(payload)
        landed = result.status in (ActionStatus.APPLIED, ActionStatus.ALREADY_DONE)
        verify = "verify" in (obj.get("spec") or {})
        if result.revert_of is not None:
            phase = Phase.REVERTED if landed else Phase.FAILED
            why = f"reverted: {result.status.value}" + (
                f" ({result.detail})" if result.detail else ""
            )
        elif result.status is ActionStatus.APPLIED and verify:
            phase, why = Phase.VERIFYING, "applied; verifying after the bake window"
        elif result.status is ActionStatus.DRY_RUN:
            phase, why = Phase.SUCCEEDED, f"dry run ({self.mode}): recorded, nothing changed"
        elif landed:
            phase, why = Phase.SUCCEEDED, f"{result.status.value}"
        else:
            phase, why = Phase.FAILED, f"action failed: {result.detail}"
        conditions = with_condition(obj, "Applied", landed, result.status.value,
                                    result.detail or why, result.at)  # fmt: skip
        self.transition(obj, phase, why, result=result_status(result), conditions=conditions)

    def _verification(self, obj: Obj, payload: Mapping[str, Any]) -> None:
        verification = VerificationResult.model_validate(payload)
        outcome = verification.phase
        if outcome is VerificationPhase.IMPROVED:
            phase, why = Phase.SUCCEEDED, f"verified: {verification.detail}"
        elif outcome is VerificationPhase.WORSE:
            phase, why = Phase.VERIFYING, f"worse: reverting ({verification.detail})"
        else:
            phase, why = Phase.FAILED, f"verification {outcome.value}: {verification.detail}"
        improved = outcome is VerificationPhase.IMPROVED
        conditions = with_condition(
            obj, "Verified", improved, outcome.value, verification.detail, verification.at
        )
        found = verification_status(verification)
        self.transition(obj, phase, why, verification=found, conditions=conditions)

    def _escalation(self, obj: Obj, payload: Mapping[str, Any]) -> None:
        if phase_of(obj) in FINAL:
            return
        self.transition(obj, Phase.FAILED, f"escalated: {payload.get('reason', '')}"[:2000])

    # ----- pending approvals and answers -----

    def pending(self) -> list[tuple[Obj, ApprovalRequest]]:
        """Every Remediation waiting for an answer, with its request (a new leader's view)."""
        found = []
        for obj in self.calls.list_custom(REMEDIATIONS, None):
            if phase_of(obj) is not Phase.PENDING_APPROVAL:
                continue
            request = request_of(obj)
            if request is not None:
                self._remember(obj)
                found.append((obj, request))
        return found

    def expire_overdue(self, now: datetime) -> int:
        """Mark pending Remediations past their deadline ``expired``; how many there were.

        The planner expires its own requests; this catches the ones no thread waits for any
        more (the replica that asked died and the new leader planned differently), so that
        ``kubectl get remediations`` never shows a dead request as pending.
        """
        overdue = [obj for obj, request in self.pending() if now > request.expires_at]
        for obj in overdue:
            self.transition(obj, Phase.EXPIRED, "no answer before the deadline")
        return len(overdue)

    def answers(self, now: datetime) -> list[tuple[Obj, Approval]]:
        """The answers written into pending Remediations, each dated ``now`` (first seen)."""
        found = []
        for obj, _request in self.pending():
            answer = answer_of(obj, now)
            if answer is not None:
                found.append((obj, answer))
        return found


_STEPS = {
    EntryType.DECISION: RemediationStore._decision,
    EntryType.APPROVAL: RemediationStore._approval,
    EntryType.ACTION: RemediationStore._action,
    EntryType.VERIFICATION: RemediationStore._verification,
    EntryType.ESCALATION: RemediationStore._escalation,
}


def _name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _asking(request: ApprovalRequest) -> str:
    return f"awaiting an answer until {request.expires_at:%Y-%m-%dT%H:%M:%SZ}"


class RemediationChannel:
    """``ApprovalChannel``: a request becomes a pending Remediation; answers reach the inbox."""

    def __init__(self, store: RemediationStore, inbox: ApprovalInbox, clock: Clock) -> None:
        self._store = store
        self._inbox = inbox
        self._clock = clock
        self._delivered: set[tuple[str, str]] = set()

    def post(self, request: ApprovalRequest) -> None:
        """Publish ``request``; a failure is logged, never raised (fail closed: it expires)."""
        try:
            self._store.publish(request)
        except (AiopsError, ValidationError, ValueError) as exc:
            log.warning("approval request not published", plan_hash=request.plan_hash[:12],
                        error=str(exc))  # fmt: skip

    def poll(self) -> int:
        """Move every new answer from the cluster into the inbox; how many were new.

        Call it once per tick (the operator does, before the driver delivers answers). A
        failed list is logged and retried next tick: no answer is lost, it only waits.
        """
        now = self._clock.now()
        try:
            answers = self._store.answers(now)
        except AiopsError as exc:
            log.warning("remediation answers not read", error=str(exc))
            return 0
        new = 0
        current = {(_name(obj), answer.plan_hash) for obj, answer in answers}
        self._delivered &= current  # bounded: only answers still on pending Remediations
        for obj, answer in answers:
            key = (_name(obj), answer.plan_hash)
            if key in self._delivered:
                continue
            self._delivered.add(key)
            if self._inbox.put(answer):
                new += 1
                log.info("remediation answered", remediation=_name(obj),
                         outcome=answer.outcome.value, approver=answer.approver)  # fmt: skip
        return new


class RemediationLedger:
    """``LedgerSink``: the real ledger, then the proposal's Remediation (never fails on it)."""

    def __init__(self, inner: LedgerSink, store: RemediationStore) -> None:
        self._inner = inner
        self._store = store

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Append to the ledger; then mirror the step (a failure is logged, not raised)."""
        entry = self._inner.append(
            time, entry_type, payload, incident_id=incident_id, plan_hash=plan_hash
        )
        if plan_hash is not None:
            try:
                self._store.record(entry_type, payload, plan_hash)
            except (AiopsError, ValidationError, ValueError, KeyError) as exc:
                log.warning("remediation not updated", plan_hash=plan_hash[:12],
                            step=entry_type.value, error=str(exc))  # fmt: skip
        return entry


# ----- the human side (aiops approve / aiops reject) ---------------------------------------------


class AnswerRefused(PermanentError):
    """The Remediation does not take this answer (not waiting, already answered, expired)."""


def answer_remediation(
    calls: ObjectCalls,
    namespace: str,
    name: str,
    *,
    approve: bool,
    reason: str,
    by: str,
    now: datetime,
) -> Obj:
    """Write ``spec.answer`` of one pending Remediation, conditionally on the version read.

    Refused (``AnswerRefused``) when the Remediation is not pending approval, already carries
    an answer or is past its deadline: the controller would judge such an answer a rejection
    or an expiry anyway, and the human should hear why now. A 409 (the object changed while
    answering) re-reads and decides again, at most ``MAX_ANSWER_ATTEMPTS`` times.

    Raises:
        InputError: no such Remediation (a typo in the name or the namespace).
        AnswerRefused: see above; KubePermanentError: RBAC (403) or the schema (422) said no.
    """
    where = f"{namespace}/{name}"
    for attempt in range(1, MAX_ANSWER_ATTEMPTS + 1):
        obj = calls.get_custom(REMEDIATIONS, namespace, name)
        if obj is None:
            raise InputError("NAME", where, "no such Remediation (kubectl get remediations -A)")
        _check_answerable(obj, where, now)
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        decision = "approve" if approve else "reject"
        patch = answer_patch(decision, reason, by, now, version)
        try:
            return calls.patch_custom(REMEDIATIONS, namespace, name, patch)
        except ConflictError:
            if attempt == MAX_ANSWER_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


MAX_ANSWER_ATTEMPTS = 3


def _check_answerable(obj: Obj, where: str, now: datetime) -> None:
    spec = obj.get("spec") or {}
    phase = phase_of(obj)
    answer = spec.get("answer")
    if isinstance(answer, dict):
        raise AnswerRefused(
            f"{where} was already answered ({answer.get('decision')} by {answer.get('by')}); "
            "an answer is final"
        )
    if phase is not Phase.PENDING_APPROVAL:
        shown = phase.value if phase is not None else "no phase yet"
        raise AnswerRefused(f"{where} is not waiting for an answer (phase {shown})")
    request = request_of(obj)
    if request is None:
        raise AnswerRefused(f"{where} records no readable approval request")
    if now > request.expires_at:
        raise AnswerRefused(
            f"{where} expired at {request.expires_at:%Y-%m-%dT%H:%M:%SZ}: "
            "an answer now would count as an expiry"
        )
