"""Kubernetes Events for what the operator decides, off the tick and never in its way.

``LedgerEvents`` is a ledger listener: each proposal, verdict, approval, action (a revert
too), verification and mode change becomes one Event, on the target Deployment (mode
changes on the operator itself), so ``kubectl describe deployment`` tells the story next
to the cluster's own events.

``QueuedEvents`` sends them from one background thread through a bounded queue: an Event is
an API request (a token of the client's QPS budget, a timeout when the API server is slow),
and neither the tick nor the planner may wait for one. When the queue is full the Event is
dropped, logged and counted (``aiops_kube_events_total{outcome="dropped"}``); the ledger
already holds the fact, so nothing is lost but the notification.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from controller.models.actions import Plan, describe
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
    Verdict,
    VerificationPhase,
    VerificationResult,
)
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.ledger_payloads import DecisionPayload
from controller.models.modes import Mode, ModeState
from controller.models.workloads import WorkloadRef
from controller.operator.ports import EventSink

log = structlog.get_logger("aiops.operator.events")
QUEUE_LIMIT = 256
TARGETS_KEPT = 1024
"""Plan hashes remembered to put a verification's Event on its target."""


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One Event waiting to be sent."""

    reason: str
    message: str
    warning: bool = False
    target: WorkloadRef | None = None


class QueuedEvents:
    """An ``EventSink`` whose ``emit`` only enqueues; a daemon thread sends."""

    def __init__(self, inner: EventSink, *, on_dropped: Callable[[], None] = lambda: None) -> None:
        self._inner = inner
        self._on_dropped = on_dropped
        self._queue: queue.Queue[PendingEvent | None] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._work, name="aiops-events", daemon=True)
        self._thread.start()

    def emit(
        self,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Queue one Event (about ``kind/name`` in ``namespace``, else the operator)."""
        target = None
        if kind == "Deployment" and namespace is not None and name is not None:
            target = WorkloadRef(namespace=namespace, name=name)
        try:
            self._queue.put_nowait(PendingEvent(reason, message, warning, target))
        except queue.Full:
            log.warning("kube event dropped: queue full", reason=reason)
            self._on_dropped()
            return False
        return True

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            target = event.target
            try:
                self._inner.emit(
                    event.reason,
                    event.message,
                    warning=event.warning,
                    namespace=None if target is None else target.namespace,
                    kind=None if target is None else "Deployment",
                    name=None if target is None else target.name,
                )
            except Exception:  # the sender must outlive any one Event
                self._on_dropped()

    def close(self, timeout: float) -> bool:
        """Send what is queued for at most ``timeout`` seconds; True when all went out."""
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(None, timeout=max(0.01, timeout))
        except queue.Full:
            return False
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()


def _on(target: WorkloadRef | None) -> dict[str, str | None]:
    if target is None:
        return {}
    return {"namespace": target.namespace, "kind": "Deployment", "name": target.name}


class LedgerEvents:
    """Ledger listener: one Event per decision the ledger records (see the module doc)."""

    def __init__(self, events: EventSink, mode: str) -> None:
        self._events = events
        self._mode = mode
        self._targets: OrderedDict[str, WorkloadRef] = OrderedDict()

    def _remember(self, plan_hash: str, target: WorkloadRef | None) -> None:
        if target is None:
            return
        self._targets[plan_hash] = target
        while len(self._targets) > TARGETS_KEPT:
            self._targets.popitem(last=False)

    def __call__(self, entry: LedgerEntry) -> None:
        """Turn ``entry`` into an Event when it is one of the kinds above."""
        found = self._event(entry)
        if found is None:
            return
        reason, message, warning, target = found
        incident = f" (incident {entry.incident_id})" if entry.incident_id else ""
        self._events.emit(reason, message + incident, warning=warning, **_on(target))

    def _event(self, entry: LedgerEntry) -> tuple[str, str, bool, WorkloadRef | None] | None:
        kind = entry.type
        if kind is EntryType.PROPOSAL:
            plan = entry.payload_as(Plan)
            self._remember(plan.plan_hash(), plan.action.target)
            text = f"{plan.planner.value} plan: {describe(plan.action)}"
            return "Proposed", text, False, plan.action.target
        if kind is EntryType.DECISION:
            payload = entry.payload_as(DecisionPayload)
            decision = payload.decision
            self._remember(decision.plan_hash, decision.action.target)
            again = "re-check before the write: " if payload.revalidation else ""
            text = f"{again}{decision.verdict.value}: {describe(decision.action)}"
            if decision.dry_run:
                text += f" (dry run, {self._mode} mode)"
            return "PolicyVerdict", text, decision.verdict is Verdict.DENY, decision.action.target
        if kind is EntryType.APPROVAL:
            answer = entry.payload_as(Approval)
            text = f"{answer.outcome.value} by {answer.approver}"
            rejected = answer.outcome is not ApprovalOutcome.APPROVED
            return "Approval", text, rejected, self._targets.get(answer.plan_hash)
        if kind is EntryType.ACTION:
            result = entry.payload_as(ActionResult)
            reason = "Reverted" if result.revert_of else "Action"
            text = f"{result.status.value}: {describe(result.action)}"
            if result.detail:
                text += f": {result.detail}"
            failed = result.status is ActionStatus.FAILED
            return reason, text, failed, result.action.target
        if kind is EntryType.VERIFICATION:
            verdict = entry.payload_as(VerificationResult)
            text = f"{verdict.phase.value}: {verdict.signal.value} {verdict.detail}".rstrip()
            worse = verdict.phase in (VerificationPhase.WORSE, VerificationPhase.NOT_IMPROVED)
            return "Verification", text, worse, self._targets.get(verdict.plan_hash)
        if kind is EntryType.MODE:
            state = entry.payload_as(ModeState)
            text = f"controller mode {state.mode.value}: " + ("; ".join(state.reasons) or "-")
            return "ModeChanged", text, state.mode is not Mode.NORMAL, None
        return None
