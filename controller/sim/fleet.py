"""The fleet and source health of a recorded incident, as the loop's ports see them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from controller.models.incident_file import IncidentFile
from controller.models.modes import SourceHealth
from controller.ports import FleetMember


class RecordedFleet:
    """``FleetSource`` over the incident file's workloads (the fleet does not change)."""

    def __init__(self, incident: IncidentFile) -> None:
        self._members = tuple(
            FleetMember(ref=w.ref, service_name=w.service_name) for w in incident.workloads
        )

    def members(self, now: datetime) -> Sequence[FleetMember]:
        """Every recorded workload."""
        return self._members


class RecordedSource:
    """``HealthReporter`` for a recorded source: always there, it is a recording."""

    def __init__(self, source: str) -> None:
        self.source = source

    def health(self, now: datetime) -> SourceHealth:
        """Fresh at every tick."""
        return SourceHealth(source=self.source, ok=True, last_success=now, detail="recorded")
