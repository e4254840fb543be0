"""``IncidentDriver``: when each incident's planner thread starts, resumes, or plans again.

The graph makes one plan attempt from start to end; the driver decides when to make one and
feeds the interrupts. Replay and the live loop call it with the same rules:

- A new incident starts a thread. A re-diagnosed incident whose last attempt ended without
  acting (denied, escalated, rejected) is planned again on a fresh thread; one that acted,
  or waits for a human or a bake, is left alone. At most ``MAX_ATTEMPTS`` per incident.
- A denial that may lift by itself (cooldown, stale inputs, rollout in flight, ...) is
  planned again ``REPLAN_AFTER`` later while the incident stays open.
- An approval request is posted once to the ``ApprovalChannel`` (outside the graph); the
  answer arrives later in the ``ApprovalInbox`` and is delivered once its ``decided_at`` has
  come. An unanswered request expires at its TTL; a request whose incident resolved, or
  whose incident's lead fault changed, is withdrawn. All three are rejections.
- A bake window that has ended resumes the thread into verification.

Each incident's track is written to the ``StateStore`` on every change, and ``restore``
rebuilds the tracks after a restart: the counters from the store, what each thread waits
for from the checkpointer (never from memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from controller.guardrails.engine import denial_is_temporary
from controller.models.decisions import PolicyDecision
from controller.models.incident import FaultKind, Incident
from controller.models.modes import Mode
from controller.planner.graph.runner import PlannerRunner, Waiting, thread_for
from controller.planner.graph.state import load
from controller.ports import ApprovalChannel, ApprovalInbox
from controller.state.store import InMemoryStateStore, StateStore

log = structlog.get_logger("aiops.planner")

REPLAN_AFTER = timedelta(minutes=5)
"""How long a temporarily denied incident waits before it is planned again."""
MAX_ATTEMPTS = 4
"""Plan attempts per incident; past this a human owns it (no endless re-planning)."""
RESOLVED_NOTE = "incident resolved before an answer: request withdrawn"
REDIAGNOSED_NOTE = "diagnosis changed before an answer: request withdrawn, planning again"
TRACKS = "driver.tracks"


@dataclass(frozen=True, slots=True)
class TickView:
    """What the loop knows at one tick."""

    now: datetime
    open_incidents: Mapping[str, Incident]
    blind: frozenset[str] = frozenset()
    """Workload keys detection cannot see this tick."""
    mode: Mode = Mode.NORMAL


@dataclass(slots=True)
class Track:
    """One incident's attempts: the newest thread and what it waits for."""

    attempts: int = 0
    waiting: Waiting | None = None
    last_planned: datetime | None = None
    planned_fault: FaultKind | None = None
    acted: bool = False
    retry: bool = False
    """The last attempt was denied for reasons that may lift by themselves."""

    def busy(self) -> bool:
        """Whether the newest thread waits for a human or a bake."""
        return self.waiting is not None and self.waiting.kind != "done"

    def record(self) -> dict[str, Any]:
        """The durable part (``waiting`` is re-read from the checkpointer)."""
        return {
            "attempts": self.attempts,
            "last_planned": None if self.last_planned is None else self.last_planned.isoformat(),
            "planned_fault": None if self.planned_fault is None else self.planned_fault.value,
            "acted": self.acted,
            "retry": self.retry,
        }

    @classmethod
    def from_record(cls, raw: Mapping[str, Any]) -> Track:
        """A track as ``record`` wrote it."""
        planned = raw.get("last_planned")
        fault = raw.get("planned_fault")
        return cls(
            attempts=int(raw["attempts"]),
            last_planned=None if planned is None else datetime.fromisoformat(planned),
            planned_fault=None if fault is None else FaultKind(fault),
            acted=bool(raw["acted"]),
            retry=bool(raw["retry"]),
        )


@dataclass(slots=True)
class IncidentDriver:
    """Drives planner threads through ``runner``; answers come through ``inbox``."""

    runner: PlannerRunner
    approvals: ApprovalChannel
    inbox: ApprovalInbox
    store: StateStore = field(default_factory=InMemoryStateStore)
    tracks: dict[str, Track] = field(default_factory=dict)

    async def restore(self) -> int:
        """Rebuild every track after a restart; returns how many wait for a human or bake."""
        self.tracks = {}
        for incident_id, raw in self.store.items(TRACKS):
            track = Track.from_record(raw)
            if track.attempts:
                thread = thread_for(incident_id, track.attempts)
                track.waiting = await self.runner.recover(thread)
                if track.waiting.kind == "done":
                    await self._finished(track, track.waiting)
                else:
                    state = await self.runner.values(thread)
                    track.acted = track.acted or state.get("action_result") is not None
                self._save(incident_id, track)
            self.tracks[incident_id] = track
        busy = sum(1 for t in self.tracks.values() if t.busy())
        log.info("driver restored", tracks=len(self.tracks), waiting=busy)
        return busy

    async def on_incident(self, incident: Incident, view: TickView) -> None:
        """Plan a new incident, or plan again one whose diagnosis changed.

        A request still waiting for a human is withdrawn first when the lead fault changed:
        the plan it asks about answers a diagnosis that no longer holds (CH-02, CH-06).
        """
        track = self.tracks.setdefault(incident.id, Track())
        waiting = track.waiting
        if waiting is not None and waiting.kind == "approval":
            if incident.lead.fault != track.planned_fault:
                await self._settle(
                    incident.id,
                    track,
                    await self.runner.withdraw(waiting.thread_id, REDIAGNOSED_NOTE),
                    view,
                )
        if self._may_plan(track, incident):
            await self._plan(incident, track, view)

    async def tick(self, view: TickView) -> None:
        """``advance`` every tracked incident, in the order they were first seen, then forget
        the ones that can do nothing more."""
        for incident_id in list(self.tracks):
            await self.advance(incident_id, view)
        self._prune(view)

    def _prune(self, view: TickView) -> None:
        """Drop the tracks of closed incidents that wait for nothing (no human, no bake).

        Incident ids carry their opening time, so a closed incident never comes back under
        the same id: such a track can only be read again by nobody. Without this, a
        long-running operator would keep (and walk, every tick) every incident it ever saw.
        """
        done = [
            incident_id
            for incident_id, track in self.tracks.items()
            if not track.busy() and incident_id not in view.open_incidents
        ]
        for incident_id in done:
            del self.tracks[incident_id]
            self.store.delete(TRACKS, incident_id)

    def due(self, view: TickView) -> list[str]:
        """Tracked incidents ``advance`` would do something for at ``view.now``."""
        due = []
        for incident_id, track in self.tracks.items():
            incident = view.open_incidents.get(incident_id)
            if track.busy() or (incident is not None and self._retry_due(track, view.now)):
                due.append(incident_id)
        return due

    async def advance(self, incident_id: str, view: TickView) -> None:
        """Deliver a due answer or bake, expire or withdraw a request, retry a denial."""
        track = self.tracks.get(incident_id)
        if track is None:
            return
        incident = view.open_incidents.get(incident_id)
        if track.busy():
            await self._advance(incident_id, track, view)
        elif incident is not None and self._retry_due(track, view.now):
            await self._plan(incident, track, view)

    # -- rules ---------------------------------------------------------------------------

    def _may_plan(self, track: Track, incident: Incident) -> bool:
        if track.attempts == 0:
            return True
        if track.busy() or track.acted or track.attempts >= MAX_ATTEMPTS:
            return False
        denied = track.waiting is not None and track.waiting.status == "denied"
        return denied or incident.lead.fault != track.planned_fault

    @staticmethod
    def _retry_due(track: Track, now: datetime) -> bool:
        if not track.retry or track.last_planned is None or track.attempts >= MAX_ATTEMPTS:
            return False
        return now - track.last_planned >= REPLAN_AFTER

    # -- thread calls --------------------------------------------------------------------

    async def _plan(self, incident: Incident, track: Track, view: TickView) -> None:
        track.attempts += 1
        track.last_planned = view.now
        track.planned_fault = incident.lead.fault
        self._save(incident.id, track)
        log.info("planning incident", incident_id=incident.id, attempt=track.attempts)
        waiting = await self.runner.start(
            incident,
            mode=view.mode,
            blind=incident.workload.key in view.blind,
            attempt=track.attempts,
        )
        await self._settle(incident.id, track, waiting, view)

    async def _advance(self, incident_id: str, track: Track, view: TickView) -> None:
        waiting = track.waiting
        if waiting is None:
            return
        if waiting.kind == "bake":
            if waiting.due is not None and waiting.due <= view.now:
                waiting = await self.runner.resume_bake(waiting.thread_id)
        elif incident_id not in view.open_incidents:
            waiting = await self.runner.withdraw(waiting.thread_id, RESOLVED_NOTE)
        else:
            waiting = await self._deliver(waiting, view.now)
        await self._settle(incident_id, track, waiting, view)

    async def _deliver(self, waiting: Waiting, now: datetime) -> Waiting:
        """The inbox's answer when its time has come, else an expiry past the TTL."""
        request = waiting.request
        answer = None if request is None else self.inbox.take(request.plan_hash, now)
        if answer is not None:
            return await self.runner.resume_approval(waiting.thread_id, answer)
        return await self.runner.expire(waiting.thread_id)

    def _answer_due(self, waiting: Waiting, now: datetime) -> bool:
        request = waiting.request
        answer = None if request is None else self.inbox.peek(request.plan_hash)
        return answer is not None and answer.decided_at <= now

    async def _settle(
        self, incident_id: str, track: Track, waiting: Waiting, view: TickView
    ) -> None:
        """Keep what the thread now waits for; post each request once."""
        track.waiting = waiting
        if waiting.kind == "approval" and waiting.request is not None:
            if not self.inbox.posted(waiting.thread_id):
                self.inbox.mark_posted(waiting.thread_id, waiting.request.plan_hash)
                self.approvals.post(waiting.request)
                if self._answer_due(waiting, view.now):
                    await self._advance(incident_id, track, view)
            return
        if waiting.kind == "done":
            await self._finished(track, waiting)
        self._save(incident_id, track)

    async def _finished(self, track: Track, waiting: Waiting) -> None:
        state = await self.runner.values(waiting.thread_id)
        track.acted = track.acted or state.get("action_result") is not None
        decision = load(state, "decision", PolicyDecision)
        track.retry = (
            waiting.status == "denied" and decision is not None and denial_is_temporary(decision)
        )

    def _save(self, incident_id: str, track: Track) -> None:
        self.store.put(TRACKS, incident_id, track.record())
