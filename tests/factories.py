"""Small builders for valid domain objects, so each test states only what it is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controller.models.workloads import (
    HpaSpec,
    ReplicaStatus,
    Revision,
    ScalingOwner,
    WorkloadInventory,
    WorkloadRef,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WEB = WorkloadRef(namespace="shop", name="web")


def inventory(
    ref: WorkloadRef = WEB,
    *,
    replicas: int = 4,
    hpa: tuple[int, int] | None = None,
    revisions: int = 3,
) -> WorkloadInventory:
    """A Deployment with ``revisions`` history entries, the newest current."""
    history = tuple(
        Revision(
            revision=n,
            image=f"registry.example.com/{ref.name}:1.{n}.0",
            created=T0 - timedelta(days=revisions - n + 1),
        )
        for n in range(1, revisions + 1)
    )
    return WorkloadInventory(
        ref=ref,
        replicas=ReplicaStatus(
            desired=replicas, ready=replicas, available=replicas, updated=replicas
        ),
        hpa=None
        if hpa is None
        else HpaSpec(name=ref.name, min_replicas=hpa[0], max_replicas=hpa[1]),
        scaling_owner=ScalingOwner.NONE if hpa is None else ScalingOwner.HPA,
        revisions=history,
        current_revision=revisions,
    )


def incident_dict(**overrides: Any) -> dict[str, Any]:
    """A minimal valid incident file as JSON data."""
    start = T0
    stamps = [start.timestamp() + 30 * i for i in range(1, 11)]
    data: dict[str, Any] = {
        "apiVersion": "aiops.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "tiny"},
        "window": {"start": "2026-03-01T12:00:00Z", "end": "2026-03-01T12:10:00Z", "step": "30s"},
        "workloads": [inventory().model_dump(mode="json")],
        "series": [
            {
                "workload": {"namespace": "shop", "name": "web"},
                "signal": "error_ratio",
                "unit": "ratio",
                "timestamps": stamps,
                "values": [0.001] * 10,
            }
        ],
    }
    data.update(overrides)
    return data


def latency_in_milliseconds_from(incident: Any, switch: float) -> Any:
    """``incident`` with every workload's latency x1000 from ``switch`` on (CH-09: a recording
    rule that starts answering in milliseconds)."""
    latency = ("latency_p99", "latency_p50")
    series = tuple(
        s.model_copy(
            update={
                "values": tuple(
                    None if v is None else (v * 1000 if t >= switch else v)
                    for t, v in zip(s.timestamps, s.values, strict=True)
                )
            }
        )
        if s.signal.value in latency
        else s
        for s in incident.series
    )
    return incident.model_copy(update={"series": series})
