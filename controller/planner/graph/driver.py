"""``IncidentDriver``: when each incident's planner thread starts, resumes, or plans again.

The graph makes one plan attempt from start to end; the driver decides when to make one and
feeds the interrupts. Replay calls it once per simulated tick, the live loop once per
reconcile tick, with the same rules:

- A new incident starts a thread. A re-diagnosed incident whose last attempt ended without
  acting (denied, escalated, rejected) is planned again on a fresh thread; one that acted,
  or waits for a human or a bake, is left alone. At most ``MAX_ATTEMPTS`` per incident.
- A denial that may lift by itself (cooldown, stale inputs, rollout in flight, ...) is
  planned again ``REPLAN_AFTER`` later while the incident stays open.
- An approval request goes to the ``ApprovalChannel`` outside the graph; its answer is
  delivered once its ``decided_at`` has come. An unanswered request expires at its TTL; a
  request whose incident resolved, or whose incident's lead fault changed, is withdrawn.
  All three are rejections, never approvals.
- A bake window that has ended resumes the thread into verification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from controller.guardrails.engine import denial_is_temporary
from controller.models.decisions import Approval, PolicyDecision
from controller.models.incident import FaultKind, Incident
from controller.models.modes import Mode
from controller.planner.graph.runner import PlannerRunner, Waiting
from controller.planner.graph.state import load
from controller.ports import ApprovalChannel

log = structlog.get_logger("aiops.planner")

REPLAN_AFTER = timedelta(minutes=5)
"""How long a temporarily denied incident waits before it is planned again."""
MAX_ATTEMPTS = 4
"""Plan attempts per incident; past this a human owns it (no endless re-planning)."""
RESOLVED_NOTE = "incident resolved before an answer: request withdrawn"
REDIAGNOSED_NOTE = "diagnosis changed before an answer: request withdrawn, planning again"


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


@dataclass(slots=True)
class IncidentDriver:
    """Drives planner threads through ``runner``; answers come from ``approvals``."""

    runner: PlannerRunner
    approvals: ApprovalChannel
    tracks: dict[str, Track] = field(default_factory=dict)
    answers: dict[str, Approval] = field(default_factory=dict)
    """The channel's answer per thread waiting for a human, delivered at its time."""

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
        """Deliver due answers and bakes, expire or withdraw requests, retry denials."""
        for incident_id, track in self.tracks.items():
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
        """The channel's answer when its time has come, else an expiry past the TTL."""
        answer = self.answers.get(waiting.thread_id)
        if answer is not None and answer.decided_at <= now:
            return await self.runner.resume_approval(waiting.thread_id, answer)
        return await self.runner.expire(waiting.thread_id)

    async def _settle(
        self, incident_id: str, track: Track, waiting: Waiting, view: TickView
    ) -> None:
        """Keep what the thread now waits for; ask a human once per request."""
        track.waiting = waiting
        if waiting.kind == "approval" and waiting.request is not None:
            if waiting.thread_id not in self.answers:
                self.answers[waiting.thread_id] = self.approvals.decide(waiting.request)
                if self.answers[waiting.thread_id].decided_at <= view.now:
                    await self._advance(incident_id, track, view)
            return
        self.answers.pop(waiting.thread_id, None)
        if waiting.kind == "done":
            await self._finished(track, waiting)

    async def _finished(self, track: Track, waiting: Waiting) -> None:
        state = await self.runner.values(waiting.thread_id)
        track.acted = track.acted or state.get("action_result") is not None
        decision = load(state, "decision", PolicyDecision)
        track.retry = (
            waiting.status == "denied" and decision is not None and denial_is_temporary(decision)
        )
