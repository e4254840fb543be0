"""Writes every stage of the loop to the ledger and to the report timeline in one call.

Keeping both in one place guarantees the ledger and the report tell the same story.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from controller.models.actions import Plan, describe
from controller.models.decisions import (
    ActionResult,
    Approval,
    ApprovalRequest,
    PolicyDecision,
    VerificationResult,
)
from controller.models.incident import BlindSpot, Incident
from controller.models.ledger import EntryType
from controller.models.modes import ModeState
from controller.models.proposals import ProposalOutcome
from controller.models.workloads import WorkloadRef
from controller.ports import LedgerSink
from controller.replay.result import TimelineEvent, TimelineKind

log = structlog.get_logger("aiops.replay")


def _codes(decision: PolicyDecision) -> str:
    return ", ".join(code.value for code in decision.codes)


class Recorder:
    """Collects what happened during a replay and chains it into the ledger."""

    def __init__(self, ledger: LedgerSink) -> None:
        self._ledger = ledger
        self.timeline: list[TimelineEvent] = []
        self.incidents: dict[str, Incident] = {}
        self.plans: list[Plan] = []
        self.decisions: list[PolicyDecision] = []
        self.approvals: list[Approval] = []
        self.actions: list[ActionResult] = []
        self.verifications: list[VerificationResult] = []
        self.blind_spots: list[BlindSpot] = []
        self.modes: list[ModeState] = []
        self.planner_outcomes: list[ProposalOutcome] = []

    def _event(
        self,
        at: datetime,
        kind: TimelineKind,
        summary: str,
        *,
        incident_id: str | None = None,
        workload: WorkloadRef | None = None,
        plan_hash: str | None = None,
    ) -> None:
        self.timeline.append(
            TimelineEvent(
                at=at,
                kind=kind,
                summary=summary,
                incident_id=incident_id,
                workload=workload,
                plan_hash=plan_hash,
            )
        )
        log.info(
            kind.value,
            at=at.isoformat(),
            incident_id=incident_id,
            workload=None if workload is None else workload.key,
            summary=summary,
        )

    def mode(self, state: ModeState, now: datetime) -> None:
        """The controller entered another mode (an alert in the live operator, I7)."""
        self.modes.append(state)
        self._ledger.append(now, EntryType.MODE, state.model_dump(mode="json"))
        why = "; ".join(state.reasons) or "all sources fresh"
        self._event(now, TimelineKind.MODE, f"mode {state.mode.value}: {why}")

    def detection(self, incident: Incident, now: datetime, *, updated: bool = False) -> None:
        """An incident opened (or its diagnosis changed)."""
        # Keep the diagnosis as opened: that is what the first plan acted on and what is scored.
        self.incidents.setdefault(incident.id, incident)
        self._ledger.append(
            now,
            EntryType.DETECTION,
            {"updated": updated, "incident": incident.model_dump(mode="json")},
            incident_id=incident.id,
        )
        kinds = ", ".join(f.kind.value for f in incident.findings)
        verb = "diagnosis changed" if updated else "incident opened"
        summary = f"{verb}: {kinds}; lead hypothesis {incident.lead.fault.value}"
        self._event(
            now,
            TimelineKind.DETECTION,
            summary,
            incident_id=incident.id,
            workload=incident.workload,
        )

    def resolved(self, incident: Incident, now: datetime) -> None:
        """An incident's conditions cleared."""
        self._ledger.append(
            now, EntryType.RESOLVED, {"workload": incident.workload.key}, incident_id=incident.id
        )
        self._event(
            now,
            TimelineKind.RESOLVED,
            "signals back within thresholds",
            incident_id=incident.id,
            workload=incident.workload,
        )

    def blind(self, spot: BlindSpot, now: datetime) -> None:
        """A workload became blind: reported, never acted on."""
        self.blind_spots.append(spot)
        self._ledger.append(now, EntryType.BLIND, spot.model_dump(mode="json"))
        self._event(now, TimelineKind.BLIND, f"cannot see: {spot.reason}", workload=spot.workload)

    def sight_restored(self, workload: WorkloadRef, now: datetime) -> None:
        """A blind workload has fresh data again."""
        self._ledger.append(now, EntryType.BLIND, {"workload": workload.key, "restored": True})
        self._event(now, TimelineKind.SIGHT_RESTORED, "fresh data again", workload=workload)

    def proposal(self, plan: Plan, now: datetime) -> None:
        """A planner proposed a plan."""
        self.plans.append(plan)
        self._ledger.append(
            now,
            EntryType.PROPOSAL,
            plan.model_dump(mode="json"),
            incident_id=plan.incident_id,
            plan_hash=plan.plan_hash(),
        )
        source = plan.runbook_id or plan.planner.value
        self._event(
            now,
            TimelineKind.PROPOSAL,
            f"{describe(plan.action)} [{source}]",
            incident_id=plan.incident_id,
            workload=plan.action.target,
            plan_hash=plan.plan_hash(),
        )

    def planner(
        self, incident: Incident, runbook_plan: Plan, outcome: ProposalOutcome, now: datetime
    ) -> None:
        """What the LLM planner answered beside the runbook plan (or why it did not)."""
        self.planner_outcomes.append(outcome)
        payload = outcome.model_dump(mode="json", exclude={"exchanges", "plan"})
        payload["runbook_plan_hash"] = runbook_plan.plan_hash()
        payload["llm_plan_hash"] = None if outcome.plan is None else outcome.plan.plan_hash()
        self._ledger.append(now, EntryType.PLANNER, payload, incident_id=incident.id)
        tokens = f"{outcome.usage.total} tokens, {outcome.attempts} attempts"
        if outcome.plan is None:
            why = outcome.fallback.value if outcome.fallback else "no plan"
            summary = f"LLM planner fell back ({why}: {outcome.detail[:200]}); {tokens}"
        else:
            summary = f"LLM planner proposed {describe(outcome.plan.action)}; {tokens}"
        self._event(
            now, TimelineKind.PROPOSAL, summary, incident_id=incident.id, workload=incident.workload
        )

    def decision(
        self, plan: Plan, decision: PolicyDecision, now: datetime, *, revalidation: bool = False
    ) -> None:
        """The guardrails judged a plan."""
        self.decisions.append(decision)
        payload = {"revalidation": revalidation, "decision": decision.model_dump(mode="json")}
        self._ledger.append(
            now,
            EntryType.DECISION,
            payload,
            incident_id=plan.incident_id,
            plan_hash=decision.plan_hash,
        )
        prefix = "re-checked before acting: " if revalidation else ""
        clamp = f"; clamped to {describe(decision.action)}" if decision.clamped else ""
        dry = " (dry run)" if decision.dry_run else ""
        summary = f"{prefix}{decision.verdict.value}{dry} [{_codes(decision)}]{clamp}"
        self._event(
            now,
            TimelineKind.VERDICT,
            summary,
            incident_id=plan.incident_id,
            workload=plan.action.target,
            plan_hash=decision.plan_hash,
        )

    def approval_requested(self, request: ApprovalRequest) -> None:
        """A human was asked."""
        self._ledger.append(
            request.requested_at,
            EntryType.APPROVAL_REQUESTED,
            request.model_dump(mode="json"),
            incident_id=request.incident_id,
            plan_hash=request.plan_hash,
        )

    def approval(self, request: ApprovalRequest, approval: Approval) -> None:
        """A human (or the replay stand-in) answered."""
        self.approvals.append(approval)
        self._ledger.append(
            approval.decided_at,
            EntryType.APPROVAL,
            approval.model_dump(mode="json"),
            incident_id=request.incident_id,
            plan_hash=approval.plan_hash,
        )
        note = f" ({approval.note})" if approval.note else ""
        self._event(
            approval.decided_at,
            TimelineKind.APPROVAL,
            f"{approval.outcome.value} by {approval.approver}{note}",
            incident_id=request.incident_id,
            workload=request.action.target,
            plan_hash=approval.plan_hash,
        )

    def action(self, incident_id: str, result: ActionResult) -> None:
        """An actuator ran (or refused to run) an action."""
        self.actions.append(result)
        self._ledger.append(
            result.at,
            EntryType.ACTION,
            result.model_dump(mode="json"),
            incident_id=incident_id,
            plan_hash=result.plan_hash,
        )
        revert = "revert: " if result.revert_of else ""
        self._event(
            result.at,
            TimelineKind.ACTION,
            f"{revert}{describe(result.action)}: {result.status.value} ({result.detail})",
            incident_id=incident_id,
            workload=result.action.target,
            plan_hash=result.plan_hash,
        )

    def verification(
        self, incident_id: str, workload: WorkloadRef, result: VerificationResult
    ) -> None:
        """The bake window ended and the promised signal was compared."""
        self.verifications.append(result)
        self._ledger.append(
            result.at,
            EntryType.VERIFICATION,
            result.model_dump(mode="json"),
            incident_id=incident_id,
            plan_hash=result.plan_hash,
        )
        self._event(
            result.at,
            TimelineKind.VERIFICATION,
            f"{result.phase.value}: {result.detail}",
            incident_id=incident_id,
            workload=workload,
            plan_hash=result.plan_hash,
        )

    def escalation(
        self,
        now: datetime,
        reason: str,
        *,
        incident_id: str | None,
        workload: WorkloadRef | None,
        plan_hash: str | None = None,
    ) -> None:
        """A human must take over; the reason says why automation stopped."""
        self._ledger.append(
            now,
            EntryType.ESCALATION,
            {"reason": reason},
            incident_id=incident_id,
            plan_hash=plan_hash,
        )
        self._event(
            now,
            TimelineKind.ESCALATION,
            reason,
            incident_id=incident_id,
            workload=workload,
            plan_hash=plan_hash,
        )
