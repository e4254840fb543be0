"""Valid payloads for every entry type, built from domain objects the way the call sites do
(``model_dump(mode="json")`` of the object, or the small dicts the planner and loop write)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from controller.ledger import LedgerWriter
from controller.models.actions import (
    Plan,
    PlannerKind,
    Risk,
    ScaleAction,
    VerificationSpec,
)
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
    PolicyDecision,
    Reason,
    ReasonCode,
    Verdict,
    VerificationPhase,
    VerificationResult,
)
from controller.models.incident import (
    BlindSpot,
    FaultKind,
    Finding,
    FindingKind,
    Hypothesis,
    Incident,
    Severity,
)
from controller.models.ledger import EntryType
from controller.models.modes import Mode, ModeState
from controller.models.proposals import FallbackReason, ProposalOutcome, TokenUsage
from controller.models.signals import Signal
from tests.factories import T0, WEB

KEY = b"k" * 32
"""A ledger HMAC key for tests (at least 16 bytes)."""

INCIDENT_ID = "shop.web.1"


def plan(to_replicas: int = 8, planner: PlannerKind = PlannerKind.RUNBOOK) -> Plan:
    """A scale-out plan for shop/web."""
    return Plan(
        incident_id=INCIDENT_ID,
        planner=planner,
        runbook_id="saturation-scale-out",
        action=ScaleAction(target=WEB, from_replicas=4, to_replicas=to_replicas),
        risk=Risk.LOW,
        rationale="cpu saturated",
        verification=VerificationSpec(
            signal=Signal.CPU_SATURATION, expect="decrease", bake=timedelta(minutes=5)
        ),
        snapshot_at=T0,
    )


def incident() -> Incident:
    """A cpu-saturation incident on shop/web."""
    finding = Finding(
        kind=FindingKind.CPU_SATURATION, workload=WEB, severity=Severity.PAGE, since=T0
    )
    lead = Hypothesis(
        fault=FaultKind.SATURATION, workload=WEB, confidence=0.8, rationale="cpu at 97%"
    )
    return Incident(
        id=INCIDENT_ID,
        workload=WEB,
        opened_at=T0,
        onset=T0,
        severity=Severity.PAGE,
        findings=(finding,),
        hypotheses=(lead,),
        snapshot_at=T0,
    )


def decision(verdict: Verdict = Verdict.ALLOW) -> PolicyDecision:
    """The guardrails' verdict on ``plan()``."""
    chosen = plan()
    return PolicyDecision(
        plan_hash=chosen.plan_hash(),
        verdict=verdict,
        reasons=(Reason(code=ReasonCode.ALLOWED),),
        action=chosen.action,
        policy_name="default",
        policy_hash="f" * 64,
        evaluated_at=T0,
    )


def planner_payload(
    fallback: FallbackReason | None = None, tokens: int = 100, attempts: int = 1
) -> dict[str, Any]:
    """A PLANNER payload exactly as ``planner.graph.nodes.planner_payload`` builds it."""
    runbook_plan = plan()
    llm_plan = None if fallback is not None else plan(6, PlannerKind.LLM)
    outcome = ProposalOutcome(
        plan=llm_plan,
        fallback=fallback,
        detail="no key" if fallback else "",
        usage=TokenUsage(input_tokens=tokens, output_tokens=10),
        attempts=attempts,
    )
    payload = outcome.model_dump(mode="json", exclude={"exchanges", "plan"})
    payload["runbook_plan"] = runbook_plan.model_dump(mode="json")
    payload["runbook_plan_hash"] = runbook_plan.plan_hash()
    payload["llm_plan"] = None if llm_plan is None else llm_plan.model_dump(mode="json")
    payload["llm_plan_hash"] = None if llm_plan is None else llm_plan.plan_hash()
    return payload


def action_result(status: ActionStatus = ActionStatus.APPLIED) -> ActionResult:
    """The actuator's result for ``plan()``."""
    chosen = plan()
    return ActionResult(
        plan_hash=chosen.plan_hash(),
        idempotency_key="i" * 32,
        action=chosen.action,
        status=status,
        at=T0,
        detail="conditional write",
    )


def payloads() -> dict[EntryType, list[dict[str, Any]]]:
    """Every shape each entry type is written in today (seals are the writer's own)."""
    chosen, workload = plan(), WEB.model_dump(mode="json")
    request = ApprovalRequest(
        incident_id=INCIDENT_ID,
        plan_hash=chosen.plan_hash(),
        snapshot_at=T0,
        requested_at=T0,
        expires_at=T0 + timedelta(minutes=15),
        action=chosen.action,
        summary="scale shop/web",
    )
    approval = Approval(
        plan_hash=chosen.plan_hash(),
        snapshot_at=T0,
        outcome=ApprovalOutcome.APPROVED,
        approver="alice@example.com",
        decided_at=T0,
    )
    verification = VerificationResult(
        plan_hash=chosen.plan_hash(), signal=Signal.CPU_SATURATION,
        phase=VerificationPhase.IMPROVED, baseline=0.97, observed=0.5, at=T0,
    )  # fmt: skip
    spot = BlindSpot(workload=WEB, signals=(Signal.ERROR_RATIO,), since=T0, reason="no data")
    mode = ModeState(mode=Mode.DEGRADED, since=T0, reasons=("traces missing",))
    return {
        EntryType.DETECTION: [
            {"updated": False, "incident": incident().model_dump(mode="json")},
            {"updated": True, "incident": incident().model_dump(mode="json")},
        ],
        EntryType.BLIND: [
            spot.model_dump(mode="json"),
            {"workload": workload, "restored": True},
        ],
        EntryType.RESOLVED: [{"workload": workload}],
        EntryType.PROPOSAL: [chosen.model_dump(mode="json")],
        EntryType.PLANNER: [planner_payload(), planner_payload(FallbackReason.NO_KEY)],
        EntryType.DECISION: [
            {"revalidation": False, "decision": decision().model_dump(mode="json")},
            {"revalidation": True, "decision": decision().model_dump(mode="json")},
        ],
        EntryType.APPROVAL_REQUESTED: [request.model_dump(mode="json")],
        EntryType.APPROVAL: [approval.model_dump(mode="json")],
        EntryType.ACTION: [action_result().model_dump(mode="json")],
        EntryType.VERIFICATION: [verification.model_dump(mode="json")],
        EntryType.ESCALATION: [
            {"reason": "planners disagree", "disagreement": True},
            {"reason": "made things worse", "freeze": WEB.key},
            {"reason": "policy denied", "status": "denied"},
            {"reason": "escalated", "status": None},
            {"reason": "planning queue full", "status": "dropped"},
        ],
        EntryType.MODE: [mode.model_dump(mode="json")],
    }


def escalation(n: int) -> dict[str, Any]:
    """The smallest valid payload: an escalation with a numbered reason."""
    return {"reason": f"reason {n}"}


def write(
    path: Path,
    count: int = 5,
    *,
    key: bytes | None = None,
    resume: bool = False,
    start: int = 0,
) -> Path:
    """``count`` escalation entries (numbered from ``start``), then close (which seals)."""
    with LedgerWriter(path, key=key, resume=resume) as ledger:
        for i in range(start, start + count):
            ledger.append(
                T0 + timedelta(seconds=i),
                EntryType.ESCALATION,
                escalation(i),
                incident_id="inc-1",
                plan_hash="p" * 64,
            )
    return path


def lines(path: Path) -> list[str]:
    """The file's lines, newline kept."""
    return path.read_text(encoding="utf-8").splitlines(keepends=True)
