"""The replay's ledger sink: every entry is chained into the ledger, then narrated.

The planner graph writes its stages (proposal, decision, approval, action, verification,
escalation) and the control loop its detection, mode and blind-spot entries through
``append``, exactly as they do live.
The report's timeline and its result lists are read back from those entries and nothing
else, so the ledger and the report cannot tell different stories.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from controller.models.actions import Plan, describe
from controller.models.decisions import (
    ActionResult,
    Approval,
    PolicyDecision,
    VerificationResult,
)
from controller.models.incident import BlindSpot, Incident
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.ledger_payloads import (
    BlindPayload,
    DecisionPayload,
    DetectionPayload,
    EscalationPayload,
    PlannerPayload,
    ResolvedPayload,
    SightRestored,
)
from controller.models.modes import ModeState
from controller.models.proposals import ProposalOutcome
from controller.models.workloads import WorkloadRef
from controller.ports import LedgerSink
from controller.replay.result import TimelineEvent, TimelineKind

log = structlog.get_logger("aiops.replay")


def _codes(decision: PolicyDecision) -> str:
    return ", ".join(code.value for code in decision.codes)


def planner_summary(outcome: ProposalOutcome) -> str:
    """One timeline line for what the LLM planner answered (or why it did not)."""
    tokens = f"{outcome.usage.total} tokens, {outcome.attempts} attempts"
    if outcome.plan is None:
        why = outcome.fallback.value if outcome.fallback else "no plan"
        return f"LLM planner fell back ({why}: {outcome.detail[:200]}); {tokens}"
    return f"LLM planner proposed {describe(outcome.plan.action)}; {tokens}"


class Recorder:
    """A ``LedgerSink`` that also keeps the replay's timeline and result lists."""

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
        self._narrators: dict[EntryType, Callable[[LedgerEntry], None]] = {
            EntryType.MODE: self._on_mode,
            EntryType.DETECTION: self._on_detection,
            EntryType.RESOLVED: self._on_resolved,
            EntryType.BLIND: self._on_blind,
            EntryType.PLANNER: self._on_planner,
            EntryType.PROPOSAL: self._on_proposal,
            EntryType.DECISION: self._on_decision,
            EntryType.APPROVAL: self._on_approval,
            EntryType.ACTION: self._on_action,
            EntryType.VERIFICATION: self._on_verification,
            EntryType.ESCALATION: self._on_escalation,
        }

    # -- LedgerSink ---------------------------------------------------------------------

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Chain one entry into the ledger, then add it to the timeline and result lists."""
        entry = self._ledger.append(
            time, entry_type, payload, incident_id=incident_id, plan_hash=plan_hash
        )
        narrate = self._narrators.get(entry.type)
        if narrate is not None:
            narrate(entry)
        return entry

    # -- narration: one timeline row (at most) per ledger entry -------------------------

    def _event(
        self,
        entry: LedgerEntry,
        kind: TimelineKind,
        summary: str,
        *,
        workload: WorkloadRef | None = None,
    ) -> None:
        if workload is None and entry.incident_id is not None:
            known = self.incidents.get(entry.incident_id)
            workload = None if known is None else known.workload
        event = TimelineEvent(
            at=entry.time,
            kind=kind,
            summary=summary,
            incident_id=entry.incident_id,
            workload=workload,
            plan_hash=entry.plan_hash,
        )
        self.timeline.append(event)
        log.info(
            kind.value,
            at=event.at.isoformat(),
            incident_id=entry.incident_id,
            workload=None if workload is None else workload.key,
            summary=summary,
        )

    def _on_mode(self, entry: LedgerEntry) -> None:
        state = entry.payload_as(ModeState)
        self.modes.append(state)
        why = "; ".join(state.reasons) or "all sources fresh"
        self._event(entry, TimelineKind.MODE, f"mode {state.mode.value}: {why}")

    def _on_detection(self, entry: LedgerEntry) -> None:
        detection = entry.payload_as(DetectionPayload)
        incident = detection.incident
        # Keep the diagnosis as opened: what the first plan acted on and what is scored.
        self.incidents.setdefault(incident.id, incident)
        kinds = ", ".join(f.kind.value for f in incident.findings)
        verb = "diagnosis changed" if detection.updated else "incident opened"
        summary = f"{verb}: {kinds}; lead hypothesis {incident.lead.fault.value}"
        self._event(entry, TimelineKind.DETECTION, summary, workload=incident.workload)

    def _on_resolved(self, entry: LedgerEntry) -> None:
        workload = entry.payload_as(ResolvedPayload).workload
        self._event(
            entry, TimelineKind.RESOLVED, "signals back within thresholds", workload=workload
        )

    def _on_blind(self, entry: LedgerEntry) -> None:
        spot = entry.payload_as(BlindPayload).root
        if isinstance(spot, SightRestored):
            self._event(
                entry, TimelineKind.SIGHT_RESTORED, "fresh data again", workload=spot.workload
            )
            return
        self.blind_spots.append(spot)
        self._event(entry, TimelineKind.BLIND, f"cannot see: {spot.reason}", workload=spot.workload)

    def _on_planner(self, entry: LedgerEntry) -> None:
        outcome = entry.payload_as(PlannerPayload).outcome()
        self.planner_outcomes.append(outcome)
        self._event(entry, TimelineKind.PLANNER, planner_summary(outcome))

    def _on_proposal(self, entry: LedgerEntry) -> None:
        plan = entry.payload_as(Plan)
        self.plans.append(plan)
        source = plan.runbook_id or plan.planner.value
        summary = f"{describe(plan.action)} [{source}]"
        self._event(entry, TimelineKind.PROPOSAL, summary, workload=plan.action.target)

    def _on_decision(self, entry: LedgerEntry) -> None:
        verdict = entry.payload_as(DecisionPayload)
        decision = verdict.decision
        self.decisions.append(decision)
        prefix = "re-checked before acting: " if verdict.revalidation else ""
        clamp = f"; clamped to {describe(decision.action)}" if decision.clamped else ""
        dry = " (dry run)" if decision.dry_run else ""
        summary = f"{prefix}{decision.verdict.value}{dry} [{_codes(decision)}]{clamp}"
        self._event(entry, TimelineKind.VERDICT, summary, workload=decision.action.target)

    def _on_approval(self, entry: LedgerEntry) -> None:
        approval = entry.payload_as(Approval)
        self.approvals.append(approval)
        note = f" ({approval.note})" if approval.note else ""
        summary = f"{approval.outcome.value} by {approval.approver}{note}"
        self._event(entry, TimelineKind.APPROVAL, summary)

    def _on_action(self, entry: LedgerEntry) -> None:
        result = entry.payload_as(ActionResult)
        self.actions.append(result)
        revert = "revert: " if result.revert_of else ""
        summary = f"{revert}{describe(result.action)}: {result.status.value} ({result.detail})"
        self._event(entry, TimelineKind.ACTION, summary, workload=result.action.target)

    def _on_verification(self, entry: LedgerEntry) -> None:
        result = entry.payload_as(VerificationResult)
        self.verifications.append(result)
        summary = f"{result.phase.value}: {result.detail}"
        self._event(entry, TimelineKind.VERIFICATION, summary)

    def _on_escalation(self, entry: LedgerEntry) -> None:
        self._event(entry, TimelineKind.ESCALATION, entry.payload_as(EscalationPayload).reason)
