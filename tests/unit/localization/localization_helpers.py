"""Builders for the localization, fleet and mode tests: incidents, trace histories, outcomes.

Times are written as "HH:MM:SS" on one fixed day so that a table row reads like a timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from controller.detection import DetectionOutcome, DetectionState
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import (
    FaultKind,
    Finding,
    FindingKind,
    Hypothesis,
    Incident,
    Severity,
    WorkloadStatus,
)
from controller.models.traces import EdgeStats, ServiceStats, TraceSnapshot, TraceStats
from controller.models.workloads import WorkloadRef

DAY = datetime(2026, 3, 1, tzinfo=UTC)
SHOP = "shop"
FRONTEND = WorkloadRef(namespace=SHOP, name="frontend")
CHECKOUT = WorkloadRef(namespace=SHOP, name="checkout")
PAYMENTS = WorkloadRef(namespace=SHOP, name="payments")
SERVICES = {ref.key: ref.name for ref in (FRONTEND, CHECKOUT, PAYMENTS)}


def t(clock: str) -> datetime:
    """``"10:05:30"`` on the test day, UTC."""
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return DAY.replace(hour=hours, minute=minutes, second=seconds)


def incident(ref: WorkloadRef, onset: str, opened: str | None = None) -> Incident:
    """An open SLO-burn incident on ``ref`` with the given onset (opened 2 minutes later)."""
    start = t(onset)
    opened_at = t(opened) if opened is not None else start + timedelta(minutes=2)
    finding = Finding(
        kind=FindingKind.SLO_BURN,
        workload=ref,
        severity=Severity.PAGE,
        since=start,
        detail="burning",
    )
    hypothesis = Hypothesis(
        fault=FaultKind.UNKNOWN, workload=ref, confidence=0.3, rationale="no pattern"
    )
    return Incident(
        id=f"{ref.namespace}.{ref.name}",
        workload=ref,
        opened_at=opened_at,
        onset=start,
        severity=Severity.PAGE,
        findings=(finding,),
        hypotheses=(hypothesis,),
        snapshot_at=opened_at,
    )


def deploy(ref: WorkloadRef, clock: str, revision: int = 7) -> ClusterEvent:
    """A deploy of ``ref`` to ``revision`` (from the one before) at ``clock``."""
    return ClusterEvent(
        time=t(clock),
        kind=EventKind.DEPLOY,
        workload=ref,
        revision=revision,
        previous_revision=revision - 1,
    )


def stats(error_ratio: float = 0.001, p99: float = 0.12, spans: int = 600) -> TraceStats:
    """Span statistics of one window (healthy by default)."""
    return TraceStats(
        spans=spans,
        errors=int(spans * error_ratio),
        rate=spans / 300,
        error_ratio=error_ratio,
        latency_p50_seconds=p99 / 4,
        latency_p99_seconds=p99,
    )


BAD_ERRORS = 0.31
BAD_P99 = 2.4


def history(
    edges: Sequence[tuple[str, str]],
    *,
    edge_errors: Mapping[tuple[str, str], str] | None = None,
    edge_latency: Mapping[tuple[str, str], str] | None = None,
    service_errors: Mapping[str, str] | None = None,
    start: str = "10:00:00",
    end: str = "10:10:00",
    every: int = 30,
) -> list[TraceSnapshot]:
    """Snapshots every ``every`` seconds; each named edge/service turns bad from its time on.

    Every service of ``edges`` reports its own span statistics (healthy unless in
    ``service_errors``).
    """
    edge_errors, edge_latency = edge_errors or {}, edge_latency or {}
    service_errors = service_errors or {}
    names = sorted({name for edge in edges for name in edge})
    snapshots = []
    moment = t(start)
    while moment <= t(end):

        def bad(when: str | None, at: datetime = moment) -> bool:
            return when is not None and at >= t(when)

        snapshots.append(
            TraceSnapshot(
                at=moment,
                window_seconds=60,
                edges=tuple(
                    EdgeStats(
                        caller=caller,
                        callee=callee,
                        stats=stats(
                            error_ratio=BAD_ERRORS
                            if bad(edge_errors.get((caller, callee)))
                            else 0.001,
                            p99=BAD_P99 if bad(edge_latency.get((caller, callee))) else 0.12,
                        ),
                    )
                    for caller, callee in edges
                ),
                services=tuple(
                    ServiceStats(
                        service=name,
                        stats=stats(
                            error_ratio=BAD_ERRORS if bad(service_errors.get(name)) else 0.001
                        ),
                    )
                    for name in names
                ),
                last_received=moment,
            )
        )
        moment += timedelta(seconds=every)
    return snapshots


def outcome(
    incidents: Sequence[Incident], statuses: Mapping[str, WorkloadStatus]
) -> DetectionOutcome:
    """A detection outcome holding ``incidents`` open with the given per-workload statuses."""
    return DetectionOutcome(
        state=DetectionState.empty(),
        opened=(),
        updated=(),
        resolved=(),
        open=tuple(sorted(incidents, key=lambda i: i.workload.key)),
        blind=(),
        newly_blind=(),
        sight_restored=(),
        statuses=MappingProxyType(dict(statuses)),
    )
