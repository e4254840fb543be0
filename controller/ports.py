"""Narrow protocols for every side effect. Concretes are chosen in one place (the replay
engine today, ``app.py`` for the live operator) and injected; decisions never reach past them.

In-package fakes live in ``controller.sim.fakes`` and serve both the tests and ``aiops replay``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from controller.models.actions import Action
from controller.models.decisions import ActionResult, Approval, ApprovalRequest
from controller.models.events import ClusterEvent
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.modes import SourceHealth
from controller.models.proposals import ProposalOutcome, ProposalRequest
from controller.models.signals import Signal, SignalWindow
from controller.models.traces import TraceSnapshot
from controller.models.workloads import NamespaceInfo, WorkloadInventory, WorkloadRef


class Clock(Protocol):
    """The only source of "now" (simulated in replay, wall clock live)."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class MetricsSource(Protocol):
    """Observes every signal of the given workloads in one batch per tick.

    ``observe`` is the fleet tick: its workloads become the watched set. A look at a few
    workloads outside the tick (the planner reading its target) is ``read``.
    """

    def observe(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """Windows keyed by ``WorkloadRef.key``; a missing signal means no data at all."""
        ...

    def read(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """A point read that leaves the observer's watched set, cursors and cached windows
        untouched; keyed and shaped like ``observe``."""
        ...


@dataclass(frozen=True, slots=True)
class FleetMember:
    """A workload the loop watches, with the service name its spans carry (if any)."""

    ref: WorkloadRef
    service_name: str


class FleetSource(Protocol):
    """Which workloads exist (the inventory cache live, the incident file in replay)."""

    def members(self, now: datetime) -> Sequence[FleetMember]:
        """Every watched workload at ``now``, in a stable order."""
        ...


class PlanProposer(Protocol):
    """A planner that may fail: the LLM planner (live, or replaying recorded exchanges)."""

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        """A plan, or a fallback reason; never raises for a planner failure."""
        ...


class TraceSource(Protocol):
    """Aggregated span statistics per service and call edge."""

    def snapshot(self, now: datetime) -> TraceSnapshot:
        """Statistics over the sliding window ending at ``now``."""
        ...


class HealthReporter(Protocol):
    """An observer that can say whether it currently sees (feeds the controller's mode)."""

    def health(self, now: datetime) -> SourceHealth:
        """Freshness of this source at ``now``."""
        ...


@dataclass(frozen=True, slots=True)
class LiveWorkload:
    """A workload as read right now, with the version a conditional write must match."""

    inventory: WorkloadInventory
    resource_version: str
    paused: bool = False
    restart_token: str | None = None


class ClusterReader(Protocol):
    """Reads cluster state. Implementations backed by a watch cache fail closed (raise
    TemporaryError) while the cache is unsynced; actuators re-read with a live GET before
    writing (R5)."""

    def get_workload(self, ref: WorkloadRef) -> LiveWorkload | None:
        """The workload, or None when it does not exist."""
        ...

    def get_namespace(self, name: str) -> NamespaceInfo | None:
        """The namespace and its labels, or None when it does not exist."""
        ...

    def events(self, ref: WorkloadRef, until: datetime) -> tuple[ClusterEvent, ...]:
        """The workload's events up to ``until``, oldest first."""
        ...


class ClusterWriter(Protocol):
    """Conditional writes only: a changed ``resource_version`` means conflict, not overwrite."""

    def apply(
        self, action: Action, *, resource_version: str, idempotency_key: str, now: datetime
    ) -> LiveWorkload:
        """Apply a mutating action; raise TemporaryError on a version conflict."""
        ...


class ActionExecutor(Protocol):
    """Applies one decided action (the reconciling actuator); never raises for a failed write."""

    def execute(
        self,
        action: Action,
        *,
        plan_hash: str,
        key: str,
        dry_run: bool,
        now: datetime,
        revert_of: str | None = None,
    ) -> ActionResult:
        """Kill switch, re-read, compare, conditional write; the outcome as data."""
        ...


class KillSwitch(Protocol):
    """Global off switch, read right before every mutating call."""

    def engaged(self) -> bool:
        """True when no mutation may happen."""
        ...


class Fence(Protocol):
    """Leadership, asked right before every mutating call (R5): only the leader writes.

    Answers from the elector's own monotonic clock, never from a request, so a leader that
    cannot renew stops writing before its lease can expire (``controller.kube.lease``).
    """

    def token(self) -> str | None:
        """The fencing token of this replica's term while it may write; None otherwise."""
        ...


class ApprovalInbox(Protocol):
    """Answers that arrive after a request was posted, from any channel."""

    def put(self, answer: Approval) -> bool:
        """Keep ``answer``; False when one for the same plan hash is already kept."""
        ...

    def peek(self, plan_hash: str) -> Approval | None:
        """The answer kept for ``plan_hash``, due or not, without using it."""
        ...

    def take(self, plan_hash: str, now: datetime) -> Approval | None:
        """The answer for ``plan_hash`` once its ``decided_at`` has come; used once."""
        ...

    def posted(self, thread_id: str) -> bool:
        """Whether the request of ``thread_id`` was already published."""
        ...

    def mark_posted(self, thread_id: str, plan_hash: str) -> None:
        """Remember that the request of ``thread_id`` went out."""
        ...


class ApprovalChannel(Protocol):
    """Where a request is published (console, replay script, Slack, Remediation resource).

    ``post`` returns at once; the human's answer, whenever it comes, goes into the
    ``ApprovalInbox`` the channel was built with. No answer means expiry, a rejection.
    """

    def post(self, request: ApprovalRequest) -> None:
        """Publish ``request``; never raises for a channel failure (fail closed: expiry)."""
        ...


class LedgerSink(Protocol):
    """Append-only record of decisions and actions."""

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Chain and persist one entry."""
        ...
