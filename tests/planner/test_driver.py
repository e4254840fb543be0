"""The incident driver over the real graph: when threads start, resume, expire, re-plan.

The world is the planner harness (simulated cluster and clock, metrics that react to the
write); approvals come from small scripted channels, the ApprovalChannel port's contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from controller.approvals.scripted import DenyAll, GrantAll
from controller.models.actions import ScaleAction
from controller.models.decisions import Approval, ApprovalOutcome, ApprovalRequest
from controller.models.incident import FaultKind, Hypothesis, Incident
from controller.models.ledger import EntryType
from controller.planner.graph.build import build_graph
from controller.planner.graph.context import PlannerSettings
from controller.planner.graph.driver import (
    MAX_ATTEMPTS,
    REDIAGNOSED_NOTE,
    REPLAN_AFTER,
    RESOLVED_NOTE,
    IncidentDriver,
    TickView,
)
from controller.planner.graph.runner import PlannerRunner
from controller.ports import ApprovalChannel, ApprovalInbox
from controller.state.inbox import StoredInbox
from tests.factories import T0, WEB
from tests.planner.harness import World, approval_policy, make_world, saturation_incident

SCALE_UP = ScaleAction(target=WEB, from_replicas=4, to_replicas=6)
SCALE_BACK = ScaleAction(target=WEB, from_replicas=6, to_replicas=4)


ChannelFactory = Callable[[ApprovalInbox], ApprovalChannel]


@dataclass
class AnswersLater:
    """A human who answers ``outcome`` ``delay`` after being asked (into the inbox)."""

    inbox: ApprovalInbox
    delay: timedelta
    outcome: ApprovalOutcome = ApprovalOutcome.APPROVED

    def post(self, request: ApprovalRequest) -> None:
        self.inbox.put(self.answer(request))

    def answer(self, request: ApprovalRequest) -> Approval:
        return Approval(
            plan_hash=request.plan_hash,
            snapshot_at=request.snapshot_at,
            outcome=self.outcome,
            approver="slack:alice",
            decided_at=request.requested_at + self.delay,
        )


def answers_later(delay: timedelta) -> ChannelFactory:
    return lambda inbox: AnswersLater(inbox, delay)


class Scenario:
    """A driver on a fresh graph, stepped minute by minute on the world's clock."""

    def __init__(self, world: World, approvals: ChannelFactory = GrantAll) -> None:
        self.world = world
        self.runner = PlannerRunner(build_graph(InMemorySaver()), world.context())
        self.inbox = StoredInbox()
        self.driver = IncidentDriver(
            runner=self.runner, approvals=approvals(self.inbox), inbox=self.inbox
        )

    def view(self, minute: float, *open_incidents: Incident) -> TickView:
        """The tick at ``minute``; like detection, each open incident is as seen now."""
        now = T0 + timedelta(minutes=minute)
        self.world.clock.set(now)
        seen = [i.model_copy(update={"snapshot_at": now}) for i in open_incidents]
        return TickView(now=now, open_incidents={i.id: i for i in seen})

    def open(self, incident: Incident, minute: float = 0) -> None:
        view = self.view(minute, incident)
        asyncio.run(self.driver.on_incident(view.open_incidents[incident.id], view))

    def ticks(self, minutes: Sequence[float], *open_incidents: Incident) -> None:
        async def run() -> None:
            for minute in minutes:
                await self.driver.tick(self.view(minute, *open_incidents))

        asyncio.run(run())

    def verdicts(self) -> list[str]:
        return [e.payload["decision"]["verdict"] for e in self.world.entries(EntryType.DECISION)]

    def attempts(self, incident_id: str = "shop.web.1") -> int:
        return self.driver.tracks[incident_id].attempts


def with_lead(incident: Incident, fault: FaultKind) -> Incident:
    lead = Hypothesis(fault=fault, workload=WEB, confidence=0.8, rationale="re-diagnosed")
    return incident.model_copy(update={"hypotheses": (lead,)})


# -- approvals outside the graph --------------------------------------------------------------


def test_answer_is_delivered_at_its_time_not_before() -> None:
    scene = Scenario(make_world(policy=approval_policy()), answers_later(timedelta(minutes=6)))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks(range(1, 6), incident)
    assert scene.world.writes() == []
    scene.ticks([6], incident)
    assert scene.world.writes() == [SCALE_UP]
    (approval,) = scene.world.entries(EntryType.APPROVAL)
    assert approval.time == T0 + timedelta(minutes=6)
    assert approval.payload["approver"] == "slack:alice"


def test_unanswered_request_expires_after_its_ttl_and_a_late_yes_is_ignored() -> None:
    scene = Scenario(make_world(policy=approval_policy()), answers_later(timedelta(minutes=40)))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks(range(1, 16), incident)  # the TTL is 15 minutes: T0+15m is still in time
    assert scene.world.entries(EntryType.APPROVAL) == []
    scene.ticks([16, 40, 41], incident)
    assert [e.payload["outcome"] for e in scene.world.entries(EntryType.APPROVAL)] == ["expired"]
    assert scene.world.writes() == []


def test_request_is_withdrawn_when_its_incident_resolves() -> None:
    scene = Scenario(make_world(policy=approval_policy()), answers_later(timedelta(minutes=6)))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks([1, 2], incident)
    scene.ticks([3, 6, 7])  # resolved: no longer among the open incidents
    (approval,) = scene.world.entries(EntryType.APPROVAL)
    assert (approval.payload["outcome"], approval.payload["note"]) == ("rejected", RESOLVED_NOTE)
    assert approval.time == T0 + timedelta(minutes=3)
    assert scene.world.writes() == []


def test_a_rejection_ends_the_attempt_without_acting() -> None:
    scene = Scenario(make_world(policy=approval_policy()), DenyAll)
    scene.open(saturation_incident())
    assert [e.payload["outcome"] for e in scene.world.entries(EntryType.APPROVAL)] == ["rejected"]
    assert scene.world.writes() == []


# -- planning again -----------------------------------------------------------------------


def test_temporary_denial_is_planned_again_after_the_wait() -> None:
    scene = Scenario(make_world(fresh_from=T0 + timedelta(minutes=3)))
    incident = saturation_incident()
    scene.open(incident)
    assert scene.verdicts() == ["deny"]
    reasons = [e.payload["reason"] for e in scene.world.entries(EntryType.ESCALATION)]
    assert "will re-plan later" in reasons[-1]
    wait = int(REPLAN_AFTER.total_seconds() // 60)
    scene.ticks(range(1, wait), incident)
    assert (scene.attempts(), scene.world.writes()) == (1, [])
    scene.ticks([wait], incident)
    assert scene.attempts() == 2
    assert scene.world.writes() == [SCALE_UP]
    assert scene.verdicts() == ["deny", "allow", "allow"]  # the second allow: re-checked
    assert asyncio.run(scene.runner.status("shop.web.1#2")).kind == "bake"


def test_temporary_denial_is_not_retried_once_the_incident_resolved() -> None:
    scene = Scenario(make_world(fresh_from=T0 + timedelta(minutes=3)))
    scene.open(saturation_incident())
    scene.ticks(range(1, 20))
    assert len(scene.verdicts()) == 1 and scene.world.writes() == []


def test_tracks_of_closed_incidents_that_wait_for_nothing_are_forgotten() -> None:
    scene = Scenario(make_world(policy=approval_policy()), answers_later(timedelta(minutes=6)))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks([1, 2], incident)
    assert list(scene.driver.tracks) == [incident.id]  # open and waiting for a human: kept
    scene.ticks([3, 4])  # resolved: the request is withdrawn, then nothing is left to do
    assert scene.driver.tracks == {}
    assert scene.driver.store.items("driver.tracks") == []
    scene.open(incident, minute=5)  # if detection ever sent it again, it would be new
    assert scene.attempts() == 1


def test_permanent_denial_is_not_retried() -> None:
    scene = Scenario(make_world(opted_in=False))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks(range(1, 30), incident)
    assert scene.attempts() == 1
    reasons = [e.payload["reason"] for e in scene.world.entries(EntryType.ESCALATION)]
    assert "proposal rejected" in reasons[-1]


def test_attempts_are_capped() -> None:
    scene = Scenario(make_world(fresh_from=T0 + timedelta(days=1)))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks(range(1, 90), incident)
    assert scene.attempts() == MAX_ATTEMPTS
    assert scene.verdicts() == ["deny"] * MAX_ATTEMPTS


def test_new_diagnosis_after_an_unacted_end_is_planned_again() -> None:
    scene = Scenario(make_world(policy=approval_policy()), DenyAll)
    incident = saturation_incident()
    scene.open(incident)
    scene.open(incident, minute=1)  # same diagnosis: nothing new to plan
    assert scene.attempts() == 1
    scene.open(with_lead(incident, FaultKind.MEMORY_LEAK), minute=2)
    assert scene.attempts() == 2
    proposals = scene.world.entries(EntryType.PROPOSAL)
    assert [p.payload["action"]["kind"] for p in proposals] == ["scale", "restart"]


def test_an_incident_that_acted_is_never_planned_again() -> None:
    scene = Scenario(make_world())
    incident = saturation_incident()
    scene.open(incident)
    scene.open(with_lead(incident, FaultKind.MEMORY_LEAK), minute=1)  # waiting for its bake
    scene.ticks(range(2, 7), incident)
    scene.open(with_lead(incident, FaultKind.MEMORY_LEAK), minute=8)  # verified and done
    assert scene.attempts() == 1
    assert scene.world.writes() == [SCALE_UP]


def test_single_flight_while_waiting_for_a_human() -> None:
    scene = Scenario(make_world(policy=approval_policy()), answers_later(timedelta(minutes=6)))
    incident = saturation_incident()
    scene.open(incident)
    scene.open(incident, minute=1)  # same diagnosis, still waiting: no second plan
    assert scene.attempts() == 1
    assert len(scene.world.entries(EntryType.APPROVAL_REQUESTED)) == 1


def test_a_new_diagnosis_withdraws_the_pending_request_and_plans_again() -> None:
    scene = Scenario(make_world(policy=approval_policy()), answers_later(timedelta(minutes=6)))
    incident = saturation_incident()
    scene.open(incident)
    leak = with_lead(incident, FaultKind.MEMORY_LEAK)
    scene.open(leak, minute=1)
    first, *_ = scene.world.entries(EntryType.APPROVAL)
    assert (first.payload["outcome"], first.payload["note"]) == ("rejected", REDIAGNOSED_NOTE)
    assert scene.attempts() == 2
    proposals = scene.world.entries(EntryType.PROPOSAL)
    assert [p.payload["action"]["kind"] for p in proposals] == ["scale", "restart"]
    scene.ticks(range(2, 8), leak)  # the human's yes for the scale-out never counts
    assert scene.world.writes() == []
    assert [e.payload["outcome"] for e in scene.world.entries(EntryType.APPROVAL)] == ["rejected"]


# -- verification -----------------------------------------------------------------------------


def test_worse_after_the_bake_reverts_freezes_and_blocks_the_next_incident() -> None:
    scene = Scenario(make_world(after=1.5))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks(range(1, 5), incident)
    assert scene.world.entries(EntryType.VERIFICATION) == []  # the bake is 5 minutes
    scene.ticks([5, 6], incident)
    assert scene.world.writes() == [SCALE_UP, SCALE_BACK]
    (verification,) = scene.world.entries(EntryType.VERIFICATION)
    assert verification.payload["phase"] == "worse"
    assert verification.time == T0 + timedelta(minutes=5)
    again = saturation_incident("shop.web.2")
    scene.open(again, minute=10)
    assert scene.world.writes() == [SCALE_UP, SCALE_BACK]  # frozen: a human owns shop/web
    reasons = [e.payload["reason"] for e in scene.world.entries(EntryType.ESCALATION)]
    assert "target frozen" in reasons[-1]


def test_open_loop_verification_is_reported_but_never_reverts() -> None:
    scene = Scenario(make_world(after=1.5, settings=PlannerSettings(open_loop=True)))
    incident = saturation_incident()
    scene.open(incident)
    scene.ticks(range(1, 8), incident)
    assert scene.world.writes() == [SCALE_UP]
    (verification,) = scene.world.entries(EntryType.VERIFICATION)
    assert verification.payload["phase"] == "worse"
    assert "open loop" in verification.payload["detail"]
    assert scene.world.entries(EntryType.ESCALATION) == []
    assert asyncio.run(scene.runner.status("shop.web.1")).status == "done"


@pytest.mark.parametrize("stall_minutes", [2.0, 10.0])
def test_stale_inputs_are_refused(stall_minutes: float) -> None:
    """Inputs older than freshnessMax (60 s) never lead to an action (I3, CH-08)."""
    world = make_world(fresh_from=T0 + timedelta(days=1), stall=timedelta(minutes=stall_minutes))
    scene = Scenario(world)
    scene.open(saturation_incident())
    assert world.writes() == []
    (decision,) = world.entries(EntryType.DECISION)
    assert decision.payload["decision"]["verdict"] == "deny"
    assert "inputs_stale" in [r["code"] for r in decision.payload["decision"]["reasons"]]
