"""Builders for planner tests: incidents, findings, changes and inventories from the models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.models.actions import (
    AdjustHpaAction,
    RollbackAction,
    ScaleAction,
)
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import (
    FaultKind,
    Finding,
    FindingKind,
    Hypothesis,
    Incident,
    Severity,
)
from controller.models.signals import Signal
from controller.models.workloads import (
    HpaSpec,
    ReplicaStatus,
    Revision,
    ScalingOwner,
    WorkloadInventory,
    WorkloadRef,
)

REF = WorkloadRef(namespace="shop", name="checkout")
OTHER = WorkloadRef(namespace="shop", name="payments")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=20)


# --- builders -------------------------------------------------------------------------------


def finding(
    kind: FindingKind,
    signal: Signal | None = None,
    value: float | None = None,
    threshold: float | None = None,
    window: timedelta | None = timedelta(minutes=5),
) -> Finding:
    return Finding(
        kind=kind,
        workload=REF,
        severity=Severity.PAGE,
        since=T0 + timedelta(minutes=5),
        signal=signal,
        value=value,
        threshold=threshold,
        window=window,
    )


SLO_BURN = finding(FindingKind.SLO_BURN, Signal.ERROR_RATIO, 16.0, 14.4, timedelta(hours=1))
LATENCY = finding(FindingKind.LATENCY, Signal.LATENCY_P99, 2.5, 1.0, timedelta(minutes=3))
CPU = finding(FindingKind.CPU_SATURATION, Signal.CPU_SATURATION, 0.97, 0.9)
MEMORY = finding(FindingKind.MEMORY_SATURATION, Signal.MEMORY_SATURATION, 0.95, 0.9)
LEAK = finding(FindingKind.MEMORY_LEAK, Signal.MEMORY_SATURATION, 0.3, 0.15, timedelta(minutes=30))
CRASH = finding(FindingKind.CRASH_LOOP, Signal.RESTARTS, 6, 3, timedelta(minutes=10))
STUCK = finding(FindingKind.STUCK_ROLLOUT, Signal.REPLICAS_AVAILABLE, 2, None)
IDLE = finding(FindingKind.OVER_PROVISIONED, Signal.CPU_SATURATION, 0.08, 0.2, timedelta(hours=2))


def deploy(
    revision: int | None = 3,
    previous: int | None = 2,
    workload: WorkloadRef = REF,
    kind: EventKind = EventKind.DEPLOY,
) -> ClusterEvent:
    return ClusterEvent(
        time=T0 + timedelta(minutes=2),
        kind=kind,
        workload=workload,
        revision=revision,
        previous_revision=previous,
        image=None if revision is None else f"shop/checkout:1.{revision}",
        actor="alice",
    )


def incident(
    fault: FaultKind,
    findings: tuple[Finding, ...],
    change: ClusterEvent | None = None,
    lead_workload: WorkloadRef = REF,
) -> Incident:
    return Incident(
        id="inc-1",
        workload=REF,
        opened_at=T0 + timedelta(minutes=8),
        onset=T0 + timedelta(minutes=5),
        severity=Severity.PAGE,
        findings=findings,
        hypotheses=(
            Hypothesis(
                fault=fault,
                workload=lead_workload,
                confidence=0.8,
                rationale="test",
                change=change,
            ),
            Hypothesis(fault=FaultKind.UNKNOWN, workload=REF, confidence=0.1, rationale="rest"),
        ),
        snapshot_at=T0 + timedelta(minutes=10),
    )


def revisions(*numbers: int) -> tuple[Revision, ...]:
    return tuple(
        Revision(revision=n, image=f"shop/checkout:1.{n}", created=T0 - timedelta(days=10 - n))
        for n in numbers
    )


def inventory(
    desired: int = 4,
    history: tuple[int, ...] = (1, 2, 3),
    current: int | None = None,
    hpa: tuple[int, int] | None = None,
    owner: ScalingOwner | None = None,
    ref: WorkloadRef = REF,
) -> WorkloadInventory:
    spec = (
        None if hpa is None else HpaSpec(name="checkout", min_replicas=hpa[0], max_replicas=hpa[1])
    )
    return WorkloadInventory(
        ref=ref,
        replicas=ReplicaStatus(desired=desired, ready=desired, available=desired, updated=desired),
        hpa=spec,
        scaling_owner=owner or (ScalingOwner.HPA if hpa else ScalingOwner.NONE),
        revisions=revisions(*history),
        current_revision=current,
    )


def rollback(from_revision: int, to_revision: int) -> RollbackAction:
    return RollbackAction(
        target=REF,
        from_revision=from_revision,
        to_revision=to_revision,
        to_image=f"shop/checkout:1.{to_revision}",
    )


def hpa_action(from_bounds: tuple[int, int], to_bounds: tuple[int, int]) -> AdjustHpaAction:
    return AdjustHpaAction(
        target=REF,
        hpa_name="checkout",
        from_min=from_bounds[0],
        from_max=from_bounds[1],
        to_min=to_bounds[0],
        to_max=to_bounds[1],
    )


def scale(from_replicas: int, to_replicas: int) -> ScaleAction:
    return ScaleAction(target=REF, from_replicas=from_replicas, to_replicas=to_replicas)


BAD_DEPLOY = (SLO_BURN, LATENCY)
