"""What a replay produced: the timeline, every decision, the score and the chart data.

The report renderers (controller.report) read only this model, so a replay result saved as
JSON can be re-rendered later.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import Field

from controller.models.actions import Plan
from controller.models.base import Duration, FrozenModel, UtcDatetime
from controller.models.decisions import (
    ActionResult,
    Approval,
    PolicyDecision,
    VerificationResult,
)
from controller.models.incident import BlindSpot, Incident
from controller.models.proposals import ProposalOutcome, TokenUsage
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef


class TimelineKind(StrEnum):
    """Stages of the loop, in the order they normally happen."""

    MODE = "mode"
    DETECTION = "detection"
    BLIND = "blind"
    SIGHT_RESTORED = "sight_restored"
    PLANNER = "planner"
    PROPOSAL = "proposal"
    VERDICT = "verdict"
    APPROVAL = "approval"
    ACTION = "action"
    VERIFICATION = "verification"
    ESCALATION = "escalation"
    RESOLVED = "resolved"


class TimelineEvent(FrozenModel):
    """One row of the report's timeline."""

    at: UtcDatetime
    kind: TimelineKind
    summary: str
    incident_id: str | None = None
    workload: WorkloadRef | None = None
    plan_hash: str | None = None


class ScoreCheck(FrozenModel):
    """One scored question; ``passed`` None means not applicable to this incident."""

    name: str
    passed: bool | None
    detail: str


class Score(FrozenModel):
    """How the replay did against the incident's ground truth."""

    detected: bool
    time_to_detect: Duration | None = None
    root_cause_correct: bool | None = None
    action_acceptable: bool | None = None
    dry_run_only: bool = Field(
        default=False,
        description="No action took effect, and the action checks judged the actions the "
        "policy ran in dry run (shadow): what the controller would have done, not what it did.",
    )
    forbidden_action_taken: bool = Field(
        default=False, description="A forbidden kind took effect (dry runs never count)."
    )
    checks: tuple[ScoreCheck, ...]
    passed: bool


class ComparisonStatus(StrEnum):
    """How a recorded decision lines up with the replayed one."""

    SAME = "same"
    DIFFERENT = "different"
    ONLY_RECORDED = "only_recorded"
    ONLY_REPLAYED = "only_replayed"


class ComparisonRow(FrozenModel):
    """One recorded action next to what the replay did for the same workload."""

    workload: WorkloadRef | None
    status: ComparisonStatus
    recorded: str | None = None
    recorded_at: UtcDatetime | None = None
    replayed: str | None = None
    replayed_at: UtcDatetime | None = None


class ChartSeries(FrozenModel):
    """A key signal for the HTML chart (canonical unit, gaps dropped)."""

    workload: WorkloadRef
    signal: Signal
    unit: str
    timestamps: tuple[float, ...]
    values: tuple[float, ...]
    threshold: float | None = None


class ReplayRun(FrozenModel):
    """How the replay was configured."""

    incident_file: str
    policy_name: str
    policy_hash: str
    runbooks: tuple[str, ...]
    approvals_mode: str
    planner: str = "runbook"
    tick: Duration
    ledger_path: str | None = None
    ledger_head: str | None = None


class LlmSummary(FrozenModel):
    """What the LLM planner cost and how often it fell back, over the whole replay."""

    calls: int = Field(ge=0, description="Incidents the LLM planner was asked about.")
    plans: int = Field(ge=0, description="Valid plans it proposed.")
    fallbacks: dict[str, int] = Field(default_factory=dict, description="By reason.")
    usage: TokenUsage = TokenUsage()
    attempts: int = Field(default=0, ge=0)


def llm_summary(outcomes: Sequence[ProposalOutcome]) -> LlmSummary:
    """Totals over every planner outcome of a replay."""
    fallbacks: dict[str, int] = {}
    usage = TokenUsage()
    for outcome in outcomes:
        usage = usage + outcome.usage
        if outcome.fallback is not None:
            fallbacks[outcome.fallback.value] = fallbacks.get(outcome.fallback.value, 0) + 1
    return LlmSummary(
        calls=len(outcomes),
        plans=sum(1 for o in outcomes if o.plan is not None),
        fallbacks=fallbacks,
        usage=usage,
        attempts=sum(o.attempts for o in outcomes),
    )


class ReplayResult(FrozenModel):
    """Everything a replay decided, in one serialisable document."""

    schema_version: int = 1
    name: str
    title: str
    window_start: UtcDatetime
    window_end: UtcDatetime
    reference_time: UtcDatetime = Field(
        description="Times in the report are relative to this: ground-truth onset, else the "
        "first detection, else the window start."
    )
    run: ReplayRun
    timeline: tuple[TimelineEvent, ...] = ()
    incidents: tuple[Incident, ...] = ()
    plans: tuple[Plan, ...] = ()
    decisions: tuple[PolicyDecision, ...] = ()
    approvals: tuple[Approval, ...] = ()
    actions: tuple[ActionResult, ...] = ()
    verifications: tuple[VerificationResult, ...] = ()
    blind_spots: tuple[BlindSpot, ...] = ()
    score: Score | None = None
    comparison: tuple[ComparisonRow, ...] = ()
    charts: tuple[ChartSeries, ...] = ()
    llm: LlmSummary | None = None
