"""Planning off the tick: the bounded single-flight queue, the planner thread that never
makes the tick wait for the model, and pending work rebuilt from durable state on start."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from controller.approvals.scripted import GrantAll
from controller.models.decisions import Approval, ApprovalOutcome, ApprovalRequest
from controller.models.incident import Incident, Severity
from controller.models.ledger import EntryType
from controller.models.proposals import FallbackReason, ProposalOutcome, ProposalRequest
from controller.planner.graph.build import build_graph
from controller.planner.graph.driver import IncidentDriver, TickView
from controller.planner.graph.runner import (
    Checkpointer,
    PlannerRunner,
    memory_checkpointer,
    sqlite_checkpointer,
)
from controller.planning import (
    BackgroundPlanning,
    DriverFactory,
    InlinePlanning,
    PlanJob,
    PlanQueue,
)
from controller.ports import ApprovalChannel, ApprovalInbox
from controller.state.history import StoredHistory
from controller.state.inbox import StoredInbox
from controller.state.store import InMemoryStateStore, SqliteStateStore, StateStore
from tests.factories import T0
from tests.planner.harness import World, approval_policy, make_world, saturation_incident

WAIT = 10.0
"""Upper bound on every wait in these tests (they finish in milliseconds when correct)."""


def job(incident_id: str, severity: Severity, minute: int, plan: bool = True) -> PlanJob:
    now = T0 + timedelta(minutes=minute)
    incident = saturation_incident(incident_id).model_copy(update={"severity": severity})
    view = TickView(now=now, open_incidents={incident_id: incident})
    return PlanJob(incident_id, severity, now, view, incident if plan else None)


# -- the queue ---------------------------------------------------------------------------


def test_one_job_per_incident_newest_work_merged_in_place() -> None:
    queue = PlanQueue(capacity=4)
    assert queue.offer(job("a", Severity.PAGE, 0)) is None
    assert queue.offer(job("b", Severity.PAGE, 1)) is None
    assert queue.offer(job("a", Severity.PAGE, 2, plan=False)) is None
    assert len(queue) == 2
    first = queue.take(set())
    assert first is not None and first.incident_id == "a"
    assert first.queued_at == T0 and first.view.now == T0 + timedelta(minutes=2)
    assert first.incident is not None  # an advance-only offer keeps the queued diagnosis


def test_full_queue_drops_the_oldest_lowest_severity_job() -> None:
    queue = PlanQueue(capacity=2)
    queue.offer(job("old-ticket", Severity.TICKET, 0))
    queue.offer(job("page", Severity.PAGE, 1))
    dropped = queue.offer(job("new-page", Severity.PAGE, 2))
    assert dropped is not None and dropped.incident_id == "old-ticket"
    dropped = queue.offer(job("new-ticket", Severity.TICKET, 3))
    assert dropped is not None and dropped.incident_id == "new-ticket"  # lowest: itself
    assert [queue.take(set()), queue.take(set())] != [None, None] and len(queue) == 0


def test_take_skips_incidents_with_work_running() -> None:
    queue = PlanQueue(capacity=4)
    queue.offer(job("a", Severity.PAGE, 0))
    queue.offer(job("b", Severity.PAGE, 1))
    taken = queue.take({"a"})
    assert taken is not None and taken.incident_id == "b"
    assert queue.take({"a"}) is None


# -- the planner thread ------------------------------------------------------------------


class GatedProposer:
    """An LLM stand-in that blocks until released (like a call near its 90 s deadline)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.asked = threading.Event()
        self.calls = 0

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        self.calls += 1
        self.asked.set()
        self.gate.wait(WAIT)
        return ProposalOutcome(plan=None, fallback=FallbackReason.TIMEOUT, detail="slow model")


def driver_factory(
    world: World, store: StateStore, inbox: ApprovalInbox, channel: ApprovalChannel
) -> DriverFactory:
    def make(saver: Checkpointer) -> IncidentDriver:
        runner = PlannerRunner(build_graph(saver), world.context())
        return IncidentDriver(runner=runner, approvals=channel, inbox=inbox, store=store)

    return make


def view_of(*incidents: Incident, minute: int = 0) -> TickView:
    return TickView(now=T0 + timedelta(minutes=minute), open_incidents={i.id: i for i in incidents})


def test_tick_returns_while_the_model_is_still_thinking() -> None:
    proposer = GatedProposer()
    world = make_world(proposer=proposer)
    store, inbox = InMemoryStateStore(), StoredInbox()
    make = driver_factory(world, store, inbox, GrantAll(inbox))
    planning = BackgroundPlanning(make, memory_checkpointer, world.ledger)
    planning.start()
    try:
        incident = saturation_incident()
        planning.submit(view_of(incident), [incident])
        assert proposer.asked.wait(WAIT)
        # The tick is back while the model call blocks: the next tick can be submitted.
        planning.submit(view_of(incident, minute=1), [incident])  # single flight: merged
        assert planning.depth() >= 1 and not proposer.gate.is_set()
        proposer.gate.set()
        assert planning.settle(WAIT)
    finally:
        planning.close()
    assert proposer.calls == 1  # the second tick's work did not plan the incident again
    assert len(world.writes()) == 1  # the runbook plan was applied once
    planners = world.entries(EntryType.PLANNER)
    assert len(planners) == 1 and "timeout" in str(planners[0].payload)


def test_overflow_is_ledgered_as_an_escalation_never_silent() -> None:
    proposer = GatedProposer()
    world = make_world(proposer=proposer)
    store, inbox = InMemoryStateStore(), StoredInbox()
    make = driver_factory(world, store, inbox, GrantAll(inbox))
    planning = BackgroundPlanning(
        make,
        memory_checkpointer,
        world.ledger,
        capacity=1,
        concurrency=1,
    )
    planning.start()
    try:
        running = saturation_incident("running")
        planning.submit(view_of(running), [running])
        assert proposer.asked.wait(WAIT)
        ticket = saturation_incident("ticket").model_copy(update={"severity": Severity.TICKET})
        page = saturation_incident("page")
        planning.submit(view_of(running, ticket), [ticket])
        planning.submit(view_of(running, ticket, page), [page])
        proposer.gate.set()
        assert planning.settle(WAIT)
    finally:
        planning.close()
    dropped = [e for e in world.entries(EntryType.ESCALATION) if e.incident_id == "ticket"]
    assert len(dropped) == 1 and dropped[0].payload["status"] == "dropped"
    assert "planning queue full" in dropped[0].payload["reason"]
    assert proposer.calls == 2  # running and page were planned, the ticket went to a human


# -- restart ------------------------------------------------------------------------------


class NeverAnswers:
    """A channel whose human has not answered yet (the answer comes in another process)."""

    def __init__(self) -> None:
        self.posted: list[ApprovalRequest] = []

    def post(self, request: ApprovalRequest) -> None:
        self.posted.append(request)


def test_pending_approval_is_rebuilt_from_durable_state_after_a_restart(tmp_path: Path) -> None:
    world = make_world(policy=approval_policy())
    incident = saturation_incident()

    def process(channel: ApprovalChannel) -> tuple[InlinePlanning, StoredInbox]:
        store = SqliteStateStore(tmp_path / "state.db")  # nothing shared in memory
        world.history = StoredHistory(store)
        inbox = StoredInbox(store)
        make = driver_factory(world, store, inbox, channel)
        planning = InlinePlanning(make, lambda: sqlite_checkpointer(tmp_path / "cp.db"))
        planning.start()
        return planning, inbox

    first_channel = NeverAnswers()
    planning, _ = process(first_channel)
    planning.submit(view_of(incident), [incident])
    planning.close()
    (request,) = first_channel.posted
    assert world.writes() == []

    second_channel = NeverAnswers()
    planning, inbox = process(second_channel)
    try:
        assert planning.driver is not None
        track = planning.driver.tracks[incident.id]
        assert track.waiting is not None and track.waiting.kind == "approval"
        approval = Approval(
            plan_hash=request.plan_hash,
            snapshot_at=request.snapshot_at,
            outcome=ApprovalOutcome.APPROVED,
            approver="slack:alice",
            decided_at=T0 + timedelta(minutes=2),
        )
        assert inbox.put(approval) and not inbox.put(approval)  # a double click counts once
        world.clock.set(T0 + timedelta(minutes=2))
        planning.submit(view_of(incident, minute=2), [])
    finally:
        planning.close()
    assert second_channel.posted == []  # posted once, not again after the restart
    assert len(world.writes()) == 1
    assert [e.payload["approver"] for e in world.entries(EntryType.APPROVAL)] == ["slack:alice"]
