"""The stages after detection, for one incident: plan -> guard -> approve -> act -> verify.

The same pure pieces the live loop uses (runbook planner, guardrails engine, reconciling
actuator, verification assessment) wired to ports. Approvals and verifications that complete
later in (simulated) time wait in queues that ``tick`` drains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opentelemetry import trace

from controller.actuators.reconcile import Actuator
from controller.guardrails.engine import DENIAL_CODES, evaluate
from controller.guardrails.loader import LoadedPolicy
from controller.models.actions import (
    ActionKind,
    EscalateAction,
    Plan,
    idempotency_key,
    inverse,
    is_mutating,
)
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
    PolicyDecision,
    ReasonCode,
    Verdict,
    VerificationPhase,
    VerificationResult,
)
from controller.models.events import EventKind
from controller.models.facts import PastAction, TargetFacts
from controller.models.incident import FaultKind, Incident
from controller.models.modes import Mode
from controller.models.proposals import ProposalOutcome, ProposalRequest
from controller.models.signals import Signal, SignalWindow
from controller.models.workloads import WorkloadInventory
from controller.observers.assess import assess_verification
from controller.planner.choice import checked_outcome, choose_plan, with_disagreement
from controller.planner.runbook_planner import plan_incident
from controller.planner.runbooks import Runbook
from controller.ports import ApprovalChannel, ClusterReader, PlanProposer
from controller.replay.recorder import Recorder

tracer = trace.get_tracer("aiops.controller")

Windows = Mapping[str, Mapping[Signal, SignalWindow]]

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
    }
)
"""Denials that may lift by themselves; the incident is re-planned later instead of dropped."""

REPLAN_AFTER = timedelta(minutes=5)
OPEN_LOOP_NOTE = "judged on the recording (open loop)"
MAX_PLANS_PER_INCIDENT = 4


@dataclass(frozen=True, slots=True)
class TickContext:
    """What the loop knows at one tick."""

    now: datetime
    windows: Windows
    blind: frozenset[str]
    open_incidents: Mapping[str, Incident]
    mode: Mode = Mode.NORMAL


@dataclass(slots=True)
class IncidentRecord:
    """Per-incident bookkeeping: what was planned, when, and whether automation is done."""

    plans: int = 0
    last_planned: datetime | None = None
    planned_fault: FaultKind | None = None
    retry: bool = False
    settled: bool = False
    acted: bool = False


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """An approval request whose answer arrives at ``approval.decided_at``."""

    incident: Incident
    plan: Plan
    request: ApprovalRequest
    approval: Approval


@dataclass(frozen=True, slots=True)
class PendingVerification:
    """An applied action whose bake window ends at ``due``."""

    incident: Incident
    plan: Plan
    result: ActionResult
    before: SignalWindow
    due: datetime


@dataclass(slots=True)
class Queues:
    """Work that completes in the future."""

    approvals: list[PendingApproval] = field(default_factory=list)
    verifications: list[PendingVerification] = field(default_factory=list)


def plan_signals(plan: Plan, incident: Incident) -> set[Signal]:
    """Signals a plan rests on: its findings' signals and the one it promises to move."""
    signals = {f.signal for f in incident.findings if f.signal is not None}
    if plan.verification is not None:
        signals.add(plan.verification.signal)
    return signals


def rollout_in_progress(reader: ClusterReader, incident: Incident, now: datetime) -> bool:
    """Whether the newest deploy of the workload has not completed yet."""
    events = reader.events(incident.workload, now)
    deploys = [e for e in events if e.kind is EventKind.DEPLOY]
    if not deploys:
        return False
    newest = deploys[-1].time
    return not any(e.kind is EventKind.ROLLOUT_COMPLETE and e.time >= newest for e in events)


class IncidentPipeline:
    """Drives each incident from plan to verification, through injected ports."""

    def __init__(
        self,
        *,
        policy: LoadedPolicy,
        runbooks: Sequence[Runbook],
        reader: ClusterReader,
        actuator: Actuator,
        approvals: ApprovalChannel,
        recorder: Recorder,
        approval_ttl: timedelta,
        open_loop: bool,
        proposer: PlanProposer | None = None,
    ) -> None:
        self._policy = policy
        self._runbooks = tuple(runbooks)
        self._reader = reader
        self._actuator = actuator
        self._approvals = approvals
        self._recorder = recorder
        self._ttl = approval_ttl
        self._open_loop = open_loop
        self._proposer = proposer
        self.history: list[PastAction] = []
        self.records: dict[str, IncidentRecord] = {}
        self.frozen_targets: set[str] = set()
        self.queues = Queues()

    # -- entry points -------------------------------------------------------------------

    def on_incident(self, incident: Incident, ctx: TickContext) -> None:
        """Plan for a newly opened incident, or re-plan one whose diagnosis changed."""
        record = self.records.setdefault(incident.id, IncidentRecord())
        if record.settled and not record.acted and incident.lead.fault != record.planned_fault:
            record.settled = False  # a new diagnosis deserves a new plan
        if record.settled or record.plans >= MAX_PLANS_PER_INCIDENT:
            return
        if any(p.incident.id == incident.id for p in self.queues.approvals):
            return
        self._plan_and_guard(incident, record, ctx)

    def tick(self, ctx: TickContext) -> None:
        """Deliver due approvals and verifications, and retry temporarily denied plans."""
        self._deliver_approvals(ctx)
        self._run_verifications(ctx)
        for incident_id, record in self.records.items():
            incident = ctx.open_incidents.get(incident_id)
            if incident is not None and record.retry and record.last_planned is not None:
                if ctx.now - record.last_planned >= REPLAN_AFTER:
                    self.on_incident(incident, ctx)

    # -- stages -------------------------------------------------------------------------

    def _plan_and_guard(self, incident: Incident, record: IncidentRecord, ctx: TickContext) -> None:
        live = self._reader.get_workload(incident.workload)
        if live is None:
            self._escalate(ctx.now, "workload vanished before planning", incident)
            record.settled = True
            return
        with tracer.start_as_current_span("plan"):
            runbook_plan = plan_incident(incident, live.inventory, self._runbooks, ctx.now)
            outcome = self._ask_llm(incident, live.inventory, runbook_plan, ctx)
        plan, why, detail = choose_plan(runbook_plan, outcome)
        record.plans += 1
        record.last_planned = ctx.now
        record.planned_fault = incident.lead.fault
        record.retry = False
        self._recorder.proposal(plan, ctx.now)
        disagreement = detail if why == "disagreement" else None
        decision = self._guard(plan, incident, ctx, disagreement=disagreement)
        self._route(plan, decision, incident, record, ctx)

    def _ask_llm(
        self,
        incident: Incident,
        inventory: WorkloadInventory,
        runbook_plan: Plan,
        ctx: TickContext,
    ) -> ProposalOutcome | None:
        """The LLM's proposal beside the runbook plan (computed first, in shadow: R13)."""
        if self._proposer is None:
            return None
        request = ProposalRequest(
            incident=incident, inventory=inventory, runbook_plan=runbook_plan, now=ctx.now
        )
        outcome = checked_outcome(self._proposer.propose(request), incident.id)
        self._recorder.planner(incident, runbook_plan, outcome, ctx.now)
        return outcome

    def _guard(
        self,
        plan: Plan,
        incident: Incident,
        ctx: TickContext,
        *,
        revalidation: bool = False,
        disagreement: str | None = None,
    ) -> PolicyDecision:
        with tracer.start_as_current_span("guard"):
            decision = evaluate(
                plan, self._policy, self._facts(plan, incident, ctx), self.history, ctx.now
            )
        if disagreement is not None:
            decision = with_disagreement(decision, disagreement)
        self._recorder.decision(plan, decision, ctx.now, revalidation=revalidation)
        return decision

    def _facts(self, plan: Plan, incident: Incident, ctx: TickContext) -> TargetFacts:
        target = plan.action.target
        if target is None:
            return TargetFacts(target=None, inventory=None)
        live = self._reader.get_workload(target)
        windows = ctx.windows.get(target.key, {})
        ages: dict[str, float | None] = {}
        for signal in sorted(plan_signals(plan, incident)):
            window = windows.get(signal)
            ages[signal.value] = None if window is None else window.age_seconds()
        return TargetFacts(
            target=target,
            inventory=None if live is None else live.inventory,
            namespace=self._reader.get_namespace(target.namespace),
            input_ages=ages,
            blind=target.key in ctx.blind,
            rollout_in_progress=rollout_in_progress(self._reader, incident, ctx.now),
            mode=ctx.mode,
        )

    def _route(
        self,
        plan: Plan,
        decision: PolicyDecision,
        incident: Incident,
        record: IncidentRecord,
        ctx: TickContext,
    ) -> None:
        if not is_mutating(plan.action):
            record.settled = True
            if isinstance(plan.action, EscalateAction):
                self._escalate(ctx.now, f"planner escalated: {plan.action.reason}", incident, plan)
            return
        if incident.workload.key in self.frozen_targets:
            record.settled = True
            self._escalate(ctx.now, "target frozen after a failed remediation", incident, plan)
            return
        if decision.verdict is Verdict.DENY:
            record.retry = set(decision.codes) & DENIAL_CODES <= TEMPORARY_DENIALS
            then = "will re-plan later" if record.retry else "proposal rejected"
            codes = ", ".join(c.value for c in decision.codes)
            self._escalate(ctx.now, f"policy denied ({codes}); {then}", incident, plan)
            return
        if decision.verdict is Verdict.NEEDS_APPROVAL:
            self._request_approval(plan, decision, incident, ctx)
            return
        self._act(plan, decision, incident, record, ctx)

    def _request_approval(
        self, plan: Plan, decision: PolicyDecision, incident: Incident, ctx: TickContext
    ) -> None:
        request = ApprovalRequest(
            incident_id=incident.id,
            plan_hash=plan.plan_hash(),
            snapshot_at=plan.snapshot_at,
            requested_at=ctx.now,
            expires_at=ctx.now + self._ttl,
            action=decision.action,
            summary=plan.rationale,
            reasons=decision.reasons,
        )
        self._recorder.approval_requested(request)
        approval = self._approvals.decide(request)
        self.queues.approvals.append(PendingApproval(incident, plan, request, approval))
        self._deliver_approvals(ctx)

    def _deliver_approvals(self, ctx: TickContext) -> None:
        due = [p for p in self.queues.approvals if p.approval.decided_at <= ctx.now]
        for pending in due:
            self.queues.approvals.remove(pending)
            self._on_answer(pending, ctx)

    def _on_answer(self, pending: PendingApproval, ctx: TickContext) -> None:
        incident, plan = pending.incident, pending.plan
        request, approval = pending.request, pending.approval
        self._recorder.approval(request, approval)
        record = self.records[incident.id]
        record.settled = True
        if not approval.covers(request):
            why = "expired" if approval.outcome is ApprovalOutcome.EXPIRED else "rejected"
            self._escalate(ctx.now, f"approval {why}: nothing done", incident, plan)
            return
        if incident.id not in ctx.open_incidents:
            self._escalate(ctx.now, "incident resolved before the approval arrived", incident)
            return
        decision = self._guard(plan, incident, ctx, revalidation=True)
        if decision.verdict is Verdict.DENY or decision.action != request.action:
            self._escalate(ctx.now, "state changed since approval: not acting", incident, plan)
            return
        self._act(plan, decision, incident, record, ctx)

    def _act(
        self,
        plan: Plan,
        decision: PolicyDecision,
        incident: Incident,
        record: IncidentRecord,
        ctx: TickContext,
    ) -> None:
        record.settled = True
        record.acted = True
        key = idempotency_key(incident.id, plan.plan_hash())
        with tracer.start_as_current_span("act"):
            result = self._actuator.execute(
                decision.action,
                plan_hash=plan.plan_hash(),
                key=key,
                dry_run=decision.dry_run,
                now=ctx.now,
            )
        self._recorder.action(incident.id, result)
        target = decision.action.target
        if result.status in (ActionStatus.APPLIED, ActionStatus.DRY_RUN) and target is not None:
            self.history.append(
                PastAction(at=ctx.now, target=target, kind=ActionKind(decision.action.kind))
            )
        if result.status is ActionStatus.FAILED:
            self._escalate(ctx.now, f"action failed: {result.detail}", incident, plan)
            return
        self._schedule_verification(plan, result, incident, ctx)

    def _schedule_verification(
        self, plan: Plan, result: ActionResult, incident: Incident, ctx: TickContext
    ) -> None:
        spec = plan.verification
        target = result.action.target
        if result.status is not ActionStatus.APPLIED or spec is None or target is None:
            return
        before = ctx.windows.get(target.key, {}).get(spec.signal)
        if before is None:
            self._escalate(ctx.now, f"no {spec.signal} data to verify against", incident, plan)
            return
        self.queues.verifications.append(
            PendingVerification(incident, plan, result, before, ctx.now + spec.bake)
        )

    def _run_verifications(self, ctx: TickContext) -> None:
        due = [v for v in self.queues.verifications if v.due <= ctx.now]
        for pending in due:
            self.queues.verifications.remove(pending)
            with tracer.start_as_current_span("verify"):
                self._verify(pending, ctx)

    def _verify(self, pending: PendingVerification, ctx: TickContext) -> None:
        spec = pending.plan.verification
        target = pending.result.action.target
        if spec is None or target is None:
            return
        after = ctx.windows.get(target.key, {}).get(spec.signal)
        assessment = assess_verification(spec, pending.before, after)
        result = VerificationResult(
            plan_hash=pending.result.plan_hash,
            signal=spec.signal,
            phase=assessment.phase,
            baseline=assessment.baseline,
            observed=assessment.observed,
            relative_change=assessment.relative_change,
            at=ctx.now,
            detail=f"{assessment.detail}; {OPEN_LOOP_NOTE}"
            if self._open_loop
            else assessment.detail,
        )
        self._recorder.verification(pending.incident.id, target, result)
        if self._open_loop:
            return  # the recording cannot show our action's effect: never revert on it
        if result.phase is not VerificationPhase.IMPROVED:
            self._after_failed_verification(pending, result, ctx)

    def _after_failed_verification(
        self, pending: PendingVerification, result: VerificationResult, ctx: TickContext
    ) -> None:
        target = pending.result.action.target
        if target is None:
            return
        self.frozen_targets.add(target.key)
        reason = f"verification {result.phase.value}; no further automatic action on {target}"
        undo = inverse(pending.result.action)
        if result.phase is VerificationPhase.WORSE and undo is not None:
            key = idempotency_key(pending.incident.id, pending.result.plan_hash, step=1)
            revert = self._actuator.execute(
                undo,
                plan_hash=pending.result.plan_hash,
                key=key,
                dry_run=False,
                now=ctx.now,
                revert_of=pending.result.plan_hash,
            )
            self._recorder.action(pending.incident.id, revert)
            reason = f"made things worse: reverted ({revert.status.value}); {reason}"
        self._escalate(ctx.now, reason, pending.incident, pending.plan)

    def _escalate(
        self, now: datetime, reason: str, incident: Incident, plan: Plan | None = None
    ) -> None:
        self._recorder.escalation(
            now,
            reason,
            incident_id=incident.id,
            workload=incident.workload,
            plan_hash=None if plan is None else plan.plan_hash(),
        )
