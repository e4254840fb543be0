"""What detection produces: findings, fault hypotheses, incidents and blind spots."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from controller.models.base import Duration, FrozenModel, UtcDatetime
from controller.models.events import ClusterEvent
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef


class FindingKind(StrEnum):
    """The deterministic detectors."""

    SLO_BURN = "slo_burn"
    LATENCY = "latency"
    CPU_SATURATION = "cpu_saturation"
    MEMORY_SATURATION = "memory_saturation"
    MEMORY_LEAK = "memory_leak"
    CRASH_LOOP = "crash_loop"
    RESTART_BURST = "restart_burst"
    STUCK_ROLLOUT = "stuck_rollout"
    OVER_PROVISIONED = "over_provisioned"


class Severity(StrEnum):
    """PAGE wakes someone; TICKET can wait for working hours."""

    PAGE = "page"
    TICKET = "ticket"


class Finding(FrozenModel):
    """One detector firing for one workload, with the numbers that made it fire."""

    kind: FindingKind
    workload: WorkloadRef
    severity: Severity
    since: UtcDatetime = Field(description="When the condition first held (onset estimate).")
    signal: Signal | None = None
    value: float | None = None
    threshold: float | None = None
    window: Duration | None = None
    detail: str = ""


class FaultKind(StrEnum):
    """Diagnoses; ground truth in incident files uses the same words."""

    BAD_DEPLOY = "bad_deploy"
    SATURATION = "saturation"
    CRASH_LOOP = "crash_loop"
    MEMORY_LEAK = "memory_leak"
    OVER_PROVISIONING = "over_provisioning"
    STUCK_ROLLOUT = "stuck_rollout"
    LATENCY_REGRESSION = "latency_regression"
    UNKNOWN = "unknown"
    NONE = "none"


class Hypothesis(FrozenModel):
    """A ranked explanation. A change shortly before onset makes BAD_DEPLOY the lead."""

    fault: FaultKind
    workload: WorkloadRef
    confidence: float = Field(ge=0, le=1)
    rationale: str
    change: ClusterEvent | None = None


class RootCauseCandidate(FrozenModel):
    """One workload that may be the root cause, with the evidence that ranks it."""

    workload: WorkloadRef
    score: float = Field(ge=0, le=1)
    reasons: tuple[str, ...] = ()


class Incident(FrozenModel):
    """An open problem on one workload, as detection sees it at ``snapshot_at``."""

    id: str = Field(min_length=1, max_length=200)
    workload: WorkloadRef
    opened_at: UtcDatetime
    onset: UtcDatetime
    severity: Severity
    findings: tuple[Finding, ...] = Field(min_length=1)
    hypotheses: tuple[Hypothesis, ...] = Field(min_length=1, description="Lead first.")
    snapshot_at: UtcDatetime
    candidates: tuple[RootCauseCandidate, ...] = Field(
        default=(), description="Root-cause ranking from traces, metrics and changes; top first."
    )

    @property
    def lead(self) -> Hypothesis:
        """The most likely explanation."""
        return self.hypotheses[0]


class BlindSpot(FrozenModel):
    """A workload detection cannot judge: its data is missing, stale or erroneous.

    Blind is reported and never acted on; it is not "healthy".
    """

    workload: WorkloadRef
    signals: tuple[Signal, ...] = Field(min_length=1)
    since: UtcDatetime
    reason: str


class WorkloadStatus(StrEnum):
    """Per-tick verdict for one workload."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    BLIND = "blind"
