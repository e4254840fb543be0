"""The ledger tap: every entry the loop and planner write, seen once, after it is durable.

``TappedLedger`` wraps the ledger sink (after ``MeteredLedger``), so what it sees is exactly
what the ledger holds. Two listeners use it:

- the log: one structlog line per entry carrying ``incident_id`` (and, through the log
  processor of ``operator.logs``, the trace id of the span that wrote it);
- ``IncidentJournal``: what each open incident has gathered for its incident file (the
  incident as last diagnosed, the actions and approvals, the LLM exchanges), closed on a
  ``resolved`` entry, which hands the record to the archiver.

``KeptExchanges`` wraps the LLM planner to keep each outcome's request/response pairs, which
the ledger leaves out, for the same file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from controller.models.actions import ActionKind
from controller.models.decisions import ActionResult, Approval, ApprovalOutcome, ApprovalRequest
from controller.models.incident import Incident
from controller.models.incident_file import (
    LlmExchange,
    RecordedAction,
    RecordedApproval,
    RecordedApprovalOutcome,
    RecordedDecisions,
)
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.ledger_payloads import DetectionPayload
from controller.models.proposals import ProposalOutcome, ProposalRequest
from controller.ports import LedgerSink, PlanProposer

log = structlog.get_logger("aiops.operator.ledger")
MAX_EXCHANGES = 200
"""LLM exchanges kept per incident (a file should stay readable)."""


@dataclass(slots=True)
class IncidentRecord:
    """What an incident file is made of, gathered while the incident is open."""

    incident: Incident
    actor: str
    actions: list[RecordedAction] = field(default_factory=list)
    approvals: list[RecordedApproval] = field(default_factory=list)
    exchanges: list[LlmExchange] = field(default_factory=list)
    requests: dict[str, ApprovalRequest] = field(default_factory=dict)
    closed_at: datetime | None = None

    def decisions(self) -> RecordedDecisions:
        """The actions and human answers, as the incident file's ``recorded`` block."""
        return RecordedDecisions(actions=tuple(self.actions), approvals=tuple(self.approvals))


class IncidentJournal:
    """Open incidents' records, fed from ledger entries; closed ones go to ``on_closed``."""

    def __init__(self, actor: str, on_closed: Callable[[IncidentRecord], None]) -> None:
        self.actor = actor
        self._on_closed = on_closed
        self._open: dict[str, IncidentRecord] = {}
        self._lock = threading.Lock()
        """Entries come from the tick thread and the planner thread."""

    def observe(self, entry: LedgerEntry) -> None:
        """Take one ledger entry into the incident it names (others are ignored)."""
        incident_id = entry.incident_id
        if incident_id is None:
            return
        closed = None
        with self._lock:
            if entry.type is EntryType.DETECTION:
                incident = entry.payload_as(DetectionPayload).incident
                record = self._open.get(incident_id)
                if record is None:
                    self._open[incident_id] = IncidentRecord(incident, self.actor)
                else:
                    record.incident = incident
                return
            record = self._open.get(incident_id)
            if record is None:
                return
            if entry.type is EntryType.RESOLVED:
                record.closed_at = entry.time
                closed = self._open.pop(incident_id)
            else:
                self._take(record, entry)
        if closed is not None:
            self._on_closed(closed)

    def _take(self, record: IncidentRecord, entry: LedgerEntry) -> None:
        if entry.type is EntryType.APPROVAL_REQUESTED:
            request = entry.payload_as(ApprovalRequest)
            record.requests[request.plan_hash] = request
        elif entry.type is EntryType.APPROVAL:
            answer = entry.payload_as(Approval)
            asked = record.requests.get(answer.plan_hash)
            if asked is not None and answer.outcome is not ApprovalOutcome.EXPIRED:
                record.approvals.append(
                    RecordedApproval(
                        time=answer.decided_at,
                        workload=asked.action.target or record.incident.workload,
                        action_kind=ActionKind(asked.action.kind),
                        outcome=RecordedApprovalOutcome(answer.outcome.value),
                        approver=answer.approver,
                    )
                )
        elif entry.type is EntryType.ACTION:
            result = entry.payload_as(ActionResult)
            note = result.status.value + (f": {result.detail}" if result.detail else "")
            record.actions.append(
                RecordedAction(
                    time=result.at, actor=record.actor, action=result.action, note=note[:2000]
                )  # fmt: skip
            )

    def add_exchanges(self, incident_id: str, exchanges: tuple[LlmExchange, ...]) -> None:
        """Keep the LLM round trips of one planner answer with its incident."""
        with self._lock:
            record = self._open.get(incident_id)
            if record is not None:
                room = MAX_EXCHANGES - len(record.exchanges)
                record.exchanges.extend(exchanges[: max(0, room)])

    def open_records(self) -> list[IncidentRecord]:
        """Every incident still open (written at shutdown), oldest first."""
        with self._lock:
            return sorted(self._open.values(), key=lambda r: r.incident.opened_at)


class TappedLedger:
    """A ``LedgerSink``: append to ``inner``, then log the entry and tell the listeners."""

    def __init__(self, inner: LedgerSink, listeners: list[Callable[[LedgerEntry], None]]) -> None:
        self._inner = inner
        self._listeners = listeners

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Append (durably), then log and fan out; a listener's failure is logged only."""
        entry = self._inner.append(
            time, entry_type, payload, incident_id=incident_id, plan_hash=plan_hash
        )
        log.info("ledger entry", type=entry.type.value, seq=entry.seq,
                 incident_id=incident_id, plan_hash=plan_hash)  # fmt: skip
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception as exc:  # a listener must never fail a decision's record
                log.error("ledger listener failed", type=entry.type.value, error=str(exc))
        return entry


class KeptExchanges:
    """A ``PlanProposer`` that hands each answer's exchanges to the journal."""

    def __init__(self, inner: PlanProposer, journal: IncidentJournal) -> None:
        self._inner = inner
        self._journal = journal

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        """Ask ``inner``; keep its exchanges with the incident."""
        outcome = self._inner.propose(request)
        if outcome.exchanges:
            self._journal.add_exchanges(request.incident.id, outcome.exchanges)
        return outcome
