"""Durability: a restart while an approval is pending, on a real SQLite checkpoint file, and
a crash after the patch (CH-15, I5: each approved step has exactly one effect)."""

from __future__ import annotations

import asyncio
import json
import selectors
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from controller.actuators.reconcile import Actuator
from controller.models.decisions import ActionStatus, Approval, ApprovalOutcome
from controller.models.ledger import EntryType
from controller.planner.graph.build import build_graph
from controller.planner.graph.nodes import RECOVERED_NOTE
from controller.planner.graph.runner import PlannerRunner, Waiting, sqlite_checkpointer
from controller.sim.fakes import StaticKillSwitch
from controller.state.history import StoredHistory
from controller.state.store import SqliteStateStore
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


def test_crash_after_the_patch_reconciles_to_already_done(tmp_path: Path) -> None:
    """The second process shares nothing in memory with the first: only the cluster (the
    world) and the two files, the checkpointer and the state store, survive the crash."""
    world = make_world()
    db, state = tmp_path / "checkpoints.sqlite", tmp_path / "state.sqlite"
    config: RunnableConfig = {"configurable": {"thread_id": "shop.web.1"}}

    def fresh_process() -> CrashAfterWrite:
        world.history = StoredHistory(SqliteStateStore(state))
        actuator = Actuator(
            reader=world.cluster, writer=world.cluster, kill_switch=StaticKillSwitch()
        )
        executor = CrashAfterWrite(actuator)
        world.executor = executor
        return executor

    async def first() -> None:
        first_executor = fresh_process()
        async with sqlite_checkpointer(db) as saver:
            try:
                await PlannerRunner(build_graph(saver), world.context()).start(
                    saturation_incident()
                )
            except SimulatedCrash:
                pass
            else:
                raise AssertionError("the executor should have crashed the run")
        assert [r.status for r in first_executor.results] == [ActionStatus.APPLIED]

    async def second() -> tuple[Waiting, CrashAfterWrite]:
        executor = fresh_process()
        executor.crashes = 0
        async with sqlite_checkpointer(db) as saver:
            graph = build_graph(saver)
            # The process comes back: the act node re-runs from its last checkpoint.
            await graph.ainvoke(None, config, context=world.context(), durability="sync")
            return await PlannerRunner(graph, world.context()).status("shop.web.1"), executor

    asyncio.run(first())
    waiting, executor = asyncio.run(second())
    assert len(world.writes()) == 1  # one effect
    assert [r.status for r in executor.results] == [ActionStatus.ALREADY_DONE]
    (action,) = world.entries(EntryType.ACTION)  # the first process died before its entry
    assert action.payload["status"] == "applied" and RECOVERED_NOTE in action.payload["detail"]
    assert [p.kind for p in world.history.past_actions()] == ["scale"]  # cooldowns see it
    assert (waiting.kind, waiting.status) == ("bake", "awaiting_bake")  # and it is verified


def _until_wrote(proc: subprocess.Popen[str], timeout: float) -> bool:
    """Read the child's stdout until it says it wrote (bounded)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = proc.stdout.readline()
                if line.strip() == "WROTE":
                    return True
                if not line:
                    return False
    return False


def test_sigkill_right_after_the_write_then_restart_acts_exactly_once(tmp_path: Path) -> None:
    """A real process killed with SIGKILL between its write and recording it (CH-15, I5)."""
    child = [sys.executable, "-m", "tests.planner.crash_child", str(tmp_path)]
    root = Path(__file__).resolve().parents[2]
    errors = tmp_path / "first.stderr"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [*child, "first"], cwd=root, stdout=subprocess.PIPE, stderr=stderr, text=True
        ) as first,
    ):
        try:
            assert _until_wrote(first, timeout=60), errors.read_text()
            first.send_signal(signal.SIGKILL)
        finally:
            first.kill()
            first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    second = subprocess.run(
        [*child, "second"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert second.returncode == 0, second.stderr
    found = json.loads(second.stdout.strip().splitlines()[-1])
    assert found["writes_before"] == 1 and found["writes_after"] == 1  # one effect in all
    # The re-run act node found its own write and records it once, as applied: one ledger
    # entry per effect, counted for cooldowns, and verified after its bake like any other.
    assert found["actions"] == ["applied"]
    assert found["acted"] is True and found["waiting"] == "bake"
