"""A hand-built, realistic replay result: a bad deploy of shop/checkout, rolled back.

Everything a report shows is present: an incident, a plan, two policy decisions, an approval,
an applied action, a verification, a blind spot, the timeline, a score, a comparison with the
recorded decisions and three chart series (one long enough to need downsampling).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from controller.models.actions import (
    ActionKind,
    Plan,
    PlannerKind,
    Risk,
    RollbackAction,
    ScaleAction,
    VerificationSpec,
)
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
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
from controller.models.incident_file import GroundTruth, RecordedAction, RecordedDecisions
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from controller.replay.comparison import compare_decisions
from controller.replay.result import (
    ChartSeries,
    ReplayResult,
    ReplayRun,
    TimelineEvent,
    TimelineKind,
)
from controller.replay.scoring import score_replay

ONSET = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START, END = ONSET - timedelta(minutes=30), ONSET + timedelta(minutes=30)
CHECKOUT = WorkloadRef(namespace="shop", name="checkout")
WEB = WorkloadRef(namespace="shop", name="web")
SEARCH = WorkloadRef(namespace="shop", name="search")


def at(minutes: float) -> datetime:
    """A moment relative to onset."""
    return ONSET + timedelta(minutes=minutes)


TRUTH = GroundTruth(
    fault=FaultKind.BAD_DEPLOY,
    onset=ONSET,
    root_cause=CHECKOUT,
    acceptable_actions=(ActionKind.ROLLBACK, ActionKind.ESCALATE),
    forbidden_actions=(ActionKind.SCALE, ActionKind.RESTART),
)

INCIDENT = Incident(
    id="inc-shop-checkout-1",
    workload=CHECKOUT,
    opened_at=at(2.5),
    onset=at(0.5),
    severity=Severity.PAGE,
    findings=(
        Finding(
            kind=FindingKind.SLO_BURN,
            workload=CHECKOUT,
            severity=Severity.PAGE,
            since=at(0.5),
            signal=Signal.ERROR_RATIO,
            value=0.12,
            threshold=0.0144,
            window=timedelta(minutes=5),
            detail="burn rate 120x over 5m and 1h",
        ),
    ),
    hypotheses=(
        Hypothesis(
            fault=FaultKind.BAD_DEPLOY,
            workload=CHECKOUT,
            confidence=0.85,
            rationale="revision 8 rolled out 2m before onset",
        ),
    ),
    snapshot_at=at(2.5),
)

ROLLBACK = RollbackAction(target=CHECKOUT, from_revision=8, to_revision=7)

PLAN = Plan(
    incident_id=INCIDENT.id,
    planner=PlannerKind.RUNBOOK,
    runbook_id="bad-deploy-rollback",
    action=ROLLBACK,
    risk=Risk.MEDIUM,
    rationale="error ratio rose right after revision 8; roll back to 7",
    verification=VerificationSpec(
        signal=Signal.ERROR_RATIO, expect="decrease", bake=timedelta(minutes=5)
    ),
    snapshot_at=at(2.5),
)
PLAN_HASH = PLAN.plan_hash()


def _decision(verdict: Verdict, code: ReasonCode, minutes: float) -> PolicyDecision:
    return PolicyDecision(
        plan_hash=PLAN_HASH,
        verdict=verdict,
        reasons=(Reason(code=code),),
        action=ROLLBACK,
        policy_name="default",
        policy_hash="3f2a9c1b7d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4",
        evaluated_at=at(minutes),
    )


APPROVAL = Approval(
    plan_hash=PLAN_HASH,
    snapshot_at=at(2.5),
    outcome=ApprovalOutcome.APPROVED,
    approver="alice",
    decided_at=at(4),
)

ACTION = ActionResult(
    plan_hash=PLAN_HASH,
    idempotency_key=f"{PLAN_HASH[:16]}-1",
    action=ROLLBACK,
    status=ActionStatus.APPLIED,
    at=at(4 + 5 / 60),
)

VERIFICATION = VerificationResult(
    plan_hash=PLAN_HASH,
    signal=Signal.ERROR_RATIO,
    phase=VerificationPhase.IMPROVED,
    baseline=0.12,
    observed=0.004,
    relative_change=-0.967,
    at=at(9 + 5 / 60),
)

BLIND = BlindSpot(
    workload=SEARCH,
    signals=(Signal.RESTARTS,),
    since=at(-15),
    reason="no samples for restarts in 3m",
)

RECORDED = RecordedDecisions(
    actions=(
        RecordedAction(time=at(6), actor="alice", action=ROLLBACK),
        RecordedAction(
            time=at(7), actor="bob", action=ScaleAction(target=WEB, from_replicas=4, to_replicas=8)
        ),
    )
)


def _event(
    minutes: float,
    kind: TimelineKind,
    summary: str,
    *,
    workload: WorkloadRef | None = None,
    incident_id: str | None = None,
    plan_hash: str | None = None,
) -> TimelineEvent:
    return TimelineEvent(
        at=at(minutes),
        kind=kind,
        summary=summary,
        workload=workload,
        incident_id=incident_id,
        plan_hash=plan_hash,
    )


TIMELINE = (
    _event(-15, TimelineKind.BLIND, "cannot see: no samples for restarts in 3m", workload=SEARCH),
    _event(-11, TimelineKind.SIGHT_RESTORED, "fresh data again", workload=SEARCH),
    _event(
        2.5,
        TimelineKind.DETECTION,
        "incident opened: slo_burn; lead hypothesis bad_deploy",
        incident_id=INCIDENT.id,
        workload=CHECKOUT,
    ),
    _event(
        2.5,
        TimelineKind.PROPOSAL,
        "rollback shop/checkout rev 8 -> 7 [bad-deploy-rollback]",
        incident_id=INCIDENT.id,
        plan_hash=PLAN_HASH,
    ),
    _event(
        2.5,
        TimelineKind.VERDICT,
        "needs_approval [approval_required_kind]",
        plan_hash=PLAN_HASH,
    ),
    _event(4, TimelineKind.APPROVAL, "approved by alice", plan_hash=PLAN_HASH, workload=CHECKOUT),
    _event(
        4 + 5 / 60,
        TimelineKind.ACTION,
        "rollback shop/checkout rev 8 -> 7: applied",
        incident_id=INCIDENT.id,
        workload=CHECKOUT,
        plan_hash=PLAN_HASH,
    ),
    _event(
        9 + 5 / 60,
        TimelineKind.VERIFICATION,
        "improved: error_ratio 0.12 -> 0.004 (-97%); expected decrease by >= 20%",
        workload=CHECKOUT,
        plan_hash=PLAN_HASH,
    ),
    _event(14, TimelineKind.RESOLVED, "signals back within thresholds", workload=CHECKOUT),
)


def _error_ratio(offset: float) -> float:
    """Baseline 0.2%, up to 12% after the bad deploy, back down after the rollback."""
    wobble = 0.0005 * math.sin(offset / 37.0)
    if offset < 0:
        return 0.002 + wobble
    if offset < 245:
        return min(0.12, 0.002 + offset / 120 * 0.06) + wobble
    return max(0.004, 0.12 * math.exp(-(offset - 245) / 60)) + wobble


def _series(
    workload: WorkloadRef,
    signal: Signal,
    unit: str,
    step: float,
    value: Callable[[float], float],
    threshold: float | None = None,
) -> ChartSeries:
    """Sample ``value(seconds from onset)`` every ``step`` seconds over the window."""
    count = int((END - START).total_seconds() // step) + 1
    stamps = tuple(START.timestamp() + i * step for i in range(count))
    values = tuple(value(t - ONSET.timestamp()) for t in stamps)
    return ChartSeries(
        workload=workload,
        signal=signal,
        unit=unit,
        timestamps=stamps,
        values=values,
        threshold=threshold,
    )


CHARTS = (
    _series(CHECKOUT, Signal.ERROR_RATIO, "ratio", 5.0, _error_ratio, threshold=0.05),
    _series(
        CHECKOUT,
        Signal.LATENCY_P99,
        "s",
        30.0,
        lambda o: 0.25 if o < 0 or o > 420 else 1.4,
        threshold=1.0,
    ),
    _series(WEB, Signal.REQUEST_RATE, "1/s", 60.0, lambda o: 120 + 30 * math.sin(o / 600)),
)


def sample_result(*, title: str = "Checkout errors after the 12:00 deploy") -> ReplayResult:
    """The full fixture; ``title`` lets tests inject hostile text."""
    return ReplayResult(
        name="checkout-bad-deploy",
        title=title,
        window_start=START,
        window_end=END,
        reference_time=ONSET,
        run=ReplayRun(
            incident_file="examples/incidents/checkout-bad-deploy.json",
            policy_name="default",
            policy_hash="3f2a9c1b7d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4",
            runbooks=("bad-deploy-rollback", "saturation-scale-out"),
            approvals_mode="recorded",
            tick=timedelta(seconds=30),
        ),
        timeline=TIMELINE,
        incidents=(INCIDENT,),
        plans=(PLAN,),
        decisions=(
            _decision(Verdict.NEEDS_APPROVAL, ReasonCode.APPROVAL_REQUIRED_KIND, 2.5),
            _decision(Verdict.ALLOW, ReasonCode.ALLOWED, 4),
        ),
        approvals=(APPROVAL,),
        actions=(ACTION,),
        verifications=(VERIFICATION,),
        blind_spots=(BLIND,),
        score=score_replay(TRUTH, (INCIDENT,), (PLAN,), (ACTION,)),
        comparison=compare_decisions(RECORDED, (ACTION,)),
        charts=CHARTS,
    )
