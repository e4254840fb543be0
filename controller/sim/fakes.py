"""In-memory fakes of every port, used by the tests AND by ``aiops replay`` (kopf.testing idea).

They are real implementations of the protocols in ``controller.ports`` with simple state, not
mocks: the simulated cluster enforces conditional writes the way the API server does.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from datetime import datetime
from typing import Any

from controller.errors import TemporaryError
from controller.ledger import chain_entry, checked_key
from controller.models.actions import (
    Action,
    AdjustHpaAction,
    PauseRolloutAction,
    RestartAction,
    RollbackAction,
    ScaleAction,
)
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident_file import IncidentFile
from controller.models.ledger import GENESIS_HASH, EntryType, LedgerEntry
from controller.models.workloads import NamespaceInfo, Revision, WorkloadInventory, WorkloadRef
from controller.ports import LiveWorkload


class SimulatedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """The simulated time."""
        return self._now

    def set(self, when: datetime) -> None:
        """Move to ``when`` (never backwards)."""
        if when < self._now:
            raise ValueError("simulated time cannot go backwards")
        self._now = when


class StaticKillSwitch:
    """A kill switch set by hand."""

    def __init__(self, engaged: bool = False) -> None:
        self.is_engaged = engaged

    def engaged(self) -> bool:
        """Whether mutations are blocked."""
        return self.is_engaged


class InMemoryLedger:
    """A hash-chained ledger kept in a list: it validates and chains exactly like the file
    ledger (``chain_entry``), so a payload that does not fit its model raises here too."""

    def __init__(self, *, key: bytes | None = None) -> None:
        self.entries: list[LedgerEntry] = []
        self._key = checked_key(key)

    @property
    def head(self) -> str:
        """Hash of the newest entry."""
        return self.entries[-1].hash if self.entries else GENESIS_HASH

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Validate, chain and keep one entry."""
        entry = chain_entry(
            len(self.entries), self.head, time, entry_type, incident_id, plan_hash, payload,
            key=self._key,
        )  # fmt: skip
        self.entries.append(entry)
        return entry


def _changed(inventory: WorkloadInventory, action: Action) -> WorkloadInventory:
    if isinstance(action, ScaleAction):
        replicas = inventory.replicas.model_copy(
            update={
                "desired": action.to_replicas,
                "ready": action.to_replicas,
                "available": action.to_replicas,
                "updated": action.to_replicas,
            }
        )
        return inventory.model_copy(update={"replicas": replicas})
    if isinstance(action, AdjustHpaAction) and inventory.hpa is not None:
        hpa = inventory.hpa.model_copy(
            update={"min_replicas": action.to_min, "max_replicas": action.to_max}
        )
        return inventory.model_copy(update={"hpa": hpa})
    if isinstance(action, RollbackAction):
        return inventory.model_copy(update={"current_revision": action.to_revision})
    return inventory


_Identity = tuple[str, str, str]
"""A workload reference's fields: two refs are equal exactly when these are."""


def _identity(ref: WorkloadRef) -> _Identity:
    return ref.namespace, ref.name, ref.kind


class _WorkloadEvents:
    """Events indexed per workload, oldest first, with their times for bisection.

    Built once from the cluster's time-sorted events, so each workload's list keeps that
    (stable) order, and the events up to a time are a prefix found by ``bisect``. The last
    prefix handed out per workload is kept: the replay asks every tick and it rarely grows.
    """

    def __init__(self, events: list[ClusterEvent]) -> None:
        self._times: dict[_Identity, list[datetime]] = {}
        self._events: dict[_Identity, list[ClusterEvent]] = {}
        for event in events:
            key = _identity(event.workload)
            self._times.setdefault(key, []).append(event.time)
            self._events.setdefault(key, []).append(event)
        self._last: dict[_Identity, tuple[ClusterEvent, ...]] = {}

    def until(self, ref: WorkloadRef, until: datetime) -> tuple[ClusterEvent, ...]:
        """The events of ``ref`` with ``time <= until``, oldest first."""
        key = _identity(ref)
        times = self._times.get(key)
        if not times:
            return ()
        count = bisect.bisect_right(times, until)
        last = self._last.get(key)
        if last is None or len(last) != count:
            last = self._last[key] = tuple(self._events[key][:count])
        return last


class SimulatedCluster:
    """ClusterReader + ClusterWriter over in-memory workloads, with resource versions.

    Writes must name the current resource version (a mismatch is a conflict, as with the
    API server). Every accepted write is kept in ``writes`` for assertions and reports.
    """

    def __init__(
        self,
        workloads: list[WorkloadInventory],
        namespaces: list[NamespaceInfo] | None = None,
        events: list[ClusterEvent] | None = None,
    ) -> None:
        self._workloads = {w.ref.key: LiveWorkload(w, "1") for w in workloads}
        self._namespaces = {n.name: n for n in namespaces or []}
        self._events = sorted(events or [], key=lambda e: e.time)
        self._by_workload = _WorkloadEvents(self._events)
        self._applied_events = 0
        self._version = 1
        self.writes: list[tuple[datetime, Action]] = []

    @classmethod
    def from_incident(cls, incident: IncidentFile) -> SimulatedCluster:
        """The cluster as an incident file describes it at the window start."""
        names = {w.ref.namespace for w in incident.workloads}
        namespaces = [incident.namespace(name) for name in sorted(names)]
        return cls(list(incident.workloads), namespaces, list(incident.events))

    def advance_to(self, now: datetime) -> None:
        """Apply the recorded deploys that happened up to ``now`` (the world moves on).

        A deploy sets the current revision, adding it to the history when the inventory
        snapshot did not know it yet; other event kinds do not change the inventory.
        """
        while self._applied_events < len(self._events):
            event = self._events[self._applied_events]
            if event.time > now:
                return
            self._applied_events += 1
            live = self._workloads.get(event.workload.key)
            if event.kind is EventKind.DEPLOY and event.revision is not None and live:
                self._deploy(live, event)

    def _deploy(self, live: LiveWorkload, event: ClusterEvent) -> None:
        inventory = live.inventory
        revisions = inventory.revisions
        if event.revision is None or inventory.current_revision == event.revision:
            return
        if inventory.revision(event.revision) is None:
            image = event.image or (inventory.current.image if inventory.current else "unknown")
            added = Revision(
                revision=event.revision, image=image, created=event.time, change_cause=event.reason
            )
            revisions = tuple(sorted((*revisions, added), key=lambda r: r.revision))
        inventory = inventory.model_copy(
            update={"revisions": revisions, "current_revision": event.revision}
        )
        self._version += 1
        self._workloads[event.workload.key] = replace(
            live, inventory=inventory, resource_version=str(self._version), paused=False
        )

    def get_workload(self, ref: WorkloadRef) -> LiveWorkload | None:
        """Live read of one workload."""
        return self._workloads.get(ref.key)

    def get_namespace(self, name: str) -> NamespaceInfo | None:
        """A namespace; one that holds workloads exists even without recorded labels."""
        if name in self._namespaces:
            return self._namespaces[name]
        if any(key.split("/", 1)[0] == name for key in self._workloads):
            return NamespaceInfo(name=name)
        return None

    def events(self, ref: WorkloadRef, until: datetime) -> tuple[ClusterEvent, ...]:
        """Events of one workload up to ``until``, oldest first (O(log n) per call)."""
        return self._by_workload.until(ref, until)

    def apply(
        self, action: Action, *, resource_version: str, idempotency_key: str, now: datetime
    ) -> LiveWorkload:
        """Conditional write: TemporaryError when the object changed since it was read."""
        if action.target is None:
            raise ValueError("action has no target")
        live = self._workloads.get(action.target.key)
        if live is None:
            raise TemporaryError(f"{action.target} not found")
        if live.resource_version != resource_version:
            raise TemporaryError(
                f"conflict: {action.target} is at resourceVersion {live.resource_version}, "
                f"not {resource_version}",
                delay=1.0,
            )
        self._version += 1
        updated = replace(
            live,
            inventory=_changed(live.inventory, action),
            resource_version=str(self._version),
            paused=live.paused or isinstance(action, PauseRolloutAction),
            restart_token=idempotency_key
            if isinstance(action, RestartAction)
            else live.restart_token,
        )
        self._workloads[action.target.key] = updated
        self.writes.append((now, action))
        return updated
