"""Scenario builders and time helpers shared by the simulator tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controller.sim.cluster import Scenario, SimulatedCluster, WorkloadSpec

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NS = "shop"


def workload(name: str, **fields: Any) -> WorkloadSpec:
    """A workload in ``shop`` with image ``shop/<name>:1.0`` unless overridden."""
    return WorkloadSpec(**{"namespace": NS, "name": name, "image": f"shop/{name}:1.0", **fields})


def scenario(*workloads: WorkloadSpec, **fields: Any) -> Scenario:
    """A scenario over ``workloads`` (faults and pacing as keyword fields)."""
    return Scenario(workloads=workloads, **fields)


def at(cluster: SimulatedCluster, seconds: float) -> None:
    """Advance ``cluster`` to ``seconds`` after its start."""
    cluster.advance_to(cluster.start + timedelta(seconds=seconds))
