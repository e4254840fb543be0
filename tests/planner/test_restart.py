"""Durability: a restart while an approval is pending, on a real SQLite checkpoint file, and
a crash after the patch (CH-15, I5: each approved step has exactly one effect)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from controller.actuators.reconcile import Actuator
from controller.models.decisions import ActionStatus, Approval, ApprovalOutcome
from controller.models.ledger import EntryType
from controller.planner.graph.build import build_graph
from controller.planner.graph.runner import PlannerRunner, Waiting
from controller.sim.fakes import StaticKillSwitch
from tests.factories import T0
from tests.planner.harness import (
    CrashAfterWrite,
    SimulatedCrash,
    World,
    approval_policy,
    make_world,
    saturation_incident,
)


async def _first_process(world: World, db: Path) -> Approval:
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        run = PlannerRunner(build_graph(saver), world.context())
        waiting = await run.start(saturation_incident())
        assert waiting.kind == "approval" and waiting.request is not None
        request = waiting.request
    return Approval(
        plan_hash=request.plan_hash,
        snapshot_at=request.snapshot_at,
        outcome=ApprovalOutcome.APPROVED,
        approver="slack:alice",
        decided_at=T0 + timedelta(minutes=2),
    )


async def _second_process(world: World, db: Path, approval: Approval) -> list[Waiting]:
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        run = PlannerRunner(build_graph(saver), world.context())
        pending = await run.pending()
        assert [w.thread_id for w in pending] == ["shop.web.1"]
        first = await run.resume_approval("shop.web.1", approval)
        second = await run.resume_approval("shop.web.1", approval)  # a double click
        return [first, second]


def test_restart_while_pending_acts_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "checkpoints.sqlite"
    world = make_world(policy=approval_policy())
    approval = asyncio.run(_first_process(world, db))
    assert world.writes() == [] and db.exists()
    world.clock.set(T0 + timedelta(minutes=2))
    first, second = asyncio.run(_second_process(world, db, approval))
    assert first.kind == "bake" and second.kind == "bake"
    assert len(world.writes()) == 1
    assert [e.payload["status"] for e in world.entries(EntryType.ACTION)] == ["applied"]
    assert len(world.entries(EntryType.APPROVAL_REQUESTED)) == 1
    assert len(world.entries(EntryType.APPROVAL)) == 1


def test_crash_after_the_patch_reconciles_to_already_done() -> None:
    world = make_world()
    actuator = Actuator(reader=world.cluster, writer=world.cluster, kill_switch=StaticKillSwitch())
    world.executor = CrashAfterWrite(actuator)
    graph = build_graph(InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": "shop.web.1"}}

    async def scenario() -> Waiting:
        run = PlannerRunner(graph, world.context())
        try:
            await run.start(saturation_incident())
        except SimulatedCrash:
            pass
        else:
            raise AssertionError("the executor should have crashed the run")
        # The process comes back: the act node re-runs from its last checkpoint.
        await graph.ainvoke(None, config, context=world.context(), durability="sync")
        return await run.status("shop.web.1")

    waiting = asyncio.run(scenario())
    assert len(world.writes()) == 1  # one effect
    assert isinstance(world.executor, CrashAfterWrite)
    statuses = [r.status for r in world.executor.results]
    assert statuses == [ActionStatus.APPLIED, ActionStatus.ALREADY_DONE]
    assert (waiting.kind, waiting.status) == ("done", "done")
    assert world.entries(EntryType.ACTION)[-1].payload["status"] == "already_done"
