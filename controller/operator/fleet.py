"""``KubeFleet``: the live ``FleetSource``, every Deployment the watch cache holds.

While the cache is blind the read raises (``TemporaryError``) instead of answering with an
empty or partial fleet: the detector would take missing workloads for recovered ones and
resolve their incidents. The operator's tick catches it, counts a failed tick and leaves the
detection state as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from controller.models.workloads import WorkloadRef
from controller.ports import FleetMember, LiveWorkload


class CachedCluster(Protocol):
    """What the fleet reads from ``KubeObserver``."""

    def workloads(self, namespace: str | None = None) -> tuple[WorkloadRef, ...]:
        """Every cached Deployment, sorted."""
        ...

    def get_workload(self, ref: WorkloadRef) -> LiveWorkload | None:
        """One workload from the cache."""
        ...


class KubeFleet:
    """Every cached Deployment (in the watched namespaces), with its spans' service name."""

    def __init__(self, cluster: CachedCluster) -> None:
        self._cluster = cluster

    def members(self, now: datetime) -> Sequence[FleetMember]:
        """The fleet at ``now``, in the cache's stable (sorted) order."""
        members = []
        for ref in self._cluster.workloads():
            live = self._cluster.get_workload(ref)
            if live is not None:
                members.append(FleetMember(ref=ref, service_name=live.inventory.service_name))
        return members
