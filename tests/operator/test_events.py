"""Decisions as Kubernetes Events: one per ledger entry that matters, on its target, queued."""

from __future__ import annotations

import threading
from datetime import timedelta

from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
    VerificationPhase,
    VerificationResult,
)
from controller.models.ledger import EntryType
from controller.models.ledger_payloads import DecisionPayload
from controller.models.modes import Mode, ModeState
from controller.models.signals import Signal
from controller.operator.events import LedgerEvents, QueuedEvents
from controller.operator.journal import TappedLedger
from controller.sim.fakes import InMemoryLedger
from tests.factories import T0, WEB
from tests.unit.ledger.ledger_helpers import INCIDENT_ID, decision, plan


class Sink:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.sent: list[tuple[str, str, bool, str | None, str | None]] = []
        self._gate = gate

    def emit(self, reason: str, message: str, *, warning: bool = False,
             namespace: str | None = None, kind: str | None = None,
             name: str | None = None) -> bool:  # fmt: skip
        if self._gate is not None:
            self._gate.wait(5)
        self.sent.append((reason, message, warning, namespace, name))
        return True


def test_each_decision_becomes_an_event_on_its_target() -> None:
    sink = Sink()
    ledger = TappedLedger(InMemoryLedger(), [LedgerEvents(sink, "auto")])
    chosen = plan()
    verdict = decision()
    request = ApprovalRequest(
        incident_id=INCIDENT_ID, plan_hash=chosen.plan_hash(), snapshot_at=T0, requested_at=T0,
        expires_at=T0 + timedelta(minutes=15), action=chosen.action, summary="scale",
    )  # fmt: skip
    answer = Approval.to(request, ApprovalOutcome.REJECTED, "console:bob", T0)
    result = ActionResult(plan_hash=chosen.plan_hash(), idempotency_key="k", action=chosen.action,
                          status=ActionStatus.FAILED, at=T0, detail="write refused")  # fmt: skip
    checked = VerificationResult(plan_hash=chosen.plan_hash(), signal=Signal.CPU_SATURATION,
                                 phase=VerificationPhase.WORSE, at=T0)  # fmt: skip
    mode = ModeState(mode=Mode.BLIND, since=T0, reasons=("prometheus stale",))
    for kind, payload in (
        (EntryType.PROPOSAL, chosen.model_dump(mode="json")),
        (EntryType.DECISION, DecisionPayload(revalidation=False, decision=verdict)
         .model_dump(mode="json")),
        (EntryType.APPROVAL, answer.model_dump(mode="json")),
        (EntryType.ACTION, result.model_dump(mode="json")),
        (EntryType.VERIFICATION, checked.model_dump(mode="json")),
    ):  # fmt: skip
        ledger.append(T0, kind, payload, incident_id=INCIDENT_ID)
    ledger.append(T0, EntryType.MODE, mode.model_dump(mode="json"))
    reasons = [(reason, warning, name) for reason, _, warning, _, name in sink.sent]
    assert reasons == [
        ("Proposed", False, WEB.name),
        ("PolicyVerdict", False, WEB.name),
        ("Approval", True, WEB.name),
        ("Action", True, WEB.name),
        ("Verification", True, WEB.name),  # found by plan hash
        ("ModeChanged", True, None),  # on the operator itself
    ]
    assert all(INCIDENT_ID in message for _, message, *_ in sink.sent[:5])
    assert "write refused" in sink.sent[3][1]
    assert "prometheus stale" in sink.sent[5][1]


def test_the_queue_never_blocks_the_caller_and_drains_on_close() -> None:
    gate = threading.Event()
    sink = Sink(gate)
    dropped: list[int] = []
    events = QueuedEvents(sink, on_dropped=lambda: dropped.append(1))
    assert events.emit("A", "first", namespace="shop", kind="Deployment", name="web") is True
    gate.set()
    assert events.close(5.0) is True
    assert sink.sent == [("A", "first", False, "shop", "web")]
    assert dropped == []
