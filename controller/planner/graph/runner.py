"""The thread runner the incident driver calls: start, resume, expire, withdraw, list.

One graph thread per plan attempt (``thread_id`` = the incident id for the first). Every
call returns what the thread now waits for: a human (``approval`` with the request to post,
e.g. to Slack, which happens outside the graph), the end of a bake window (``bake`` with its
due time), or nothing (``done``). Resuming a thread that is not waiting for that kind of
input changes nothing, so a duplicate or late resume can never act twice (I5, CH-15, CH-18).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.types import Command, StateSnapshot

from controller.models.decisions import Approval, ApprovalRequest
from controller.models.incident import Incident
from controller.models.modes import Mode
from controller.planner.graph.approval import expired_approval, withdrawn_approval
from controller.planner.graph.build import PlannerGraph, build_graph
from controller.planner.graph.context import PlannerContext
from controller.planner.graph.state import PlannerState

WaitKind = Literal["approval", "bake", "done"]


@dataclass(frozen=True, slots=True)
class Waiting:
    """What one incident's thread waits for after a call."""

    thread_id: str
    kind: WaitKind
    status: str
    request: ApprovalRequest | None = None
    due: datetime | None = None


def thread_for(incident_id: str, attempt: int = 1) -> str:
    """The graph thread of one plan attempt: the incident id, then ``<id>#<attempt>``."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    return incident_id if attempt == 1 else f"{incident_id}#{attempt}"


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def waiting_of(thread_id: str, snapshot: StateSnapshot) -> Waiting:
    """Read the pending interrupt (if any) of a thread's latest checkpoint."""
    values: dict[str, Any] = dict(snapshot.values or {})
    status = str(values.get("status", "new"))
    for pending in snapshot.interrupts:
        value = pending.value
        if isinstance(value, dict) and value.get("kind") == "bake":
            return Waiting(thread_id, "bake", status, due=datetime.fromisoformat(value["due"]))
        return Waiting(thread_id, "approval", status, request=ApprovalRequest.model_validate(value))
    return Waiting(thread_id, "done", status)


class PlannerRunner:
    """Runs planner threads on one compiled graph with one injected context."""

    def __init__(self, graph: PlannerGraph, context: PlannerContext) -> None:
        self._graph = graph
        self._context = context

    async def status(self, thread_id: str) -> Waiting:
        """What ``thread_id`` waits for now (``done`` also for an unknown thread)."""
        snapshot = await self._graph.aget_state(_config(thread_id))
        return waiting_of(thread_id, snapshot)

    async def _run(self, thread_id: str, payload: PlannerState | Command[Any]) -> Waiting:
        await self._graph.ainvoke(
            payload, _config(thread_id), context=self._context, durability="sync"
        )
        return await self.status(thread_id)

    async def values(self, thread_id: str) -> PlannerState:
        """The thread's latest checkpointed state (empty for an unknown thread)."""
        snapshot = await self._graph.aget_state(_config(thread_id))
        return cast(PlannerState, dict(snapshot.values or {}))

    async def start(
        self,
        incident: Incident,
        *,
        mode: Mode = Mode.NORMAL,
        blind: bool = False,
        attempt: int = 1,
    ) -> Waiting:
        """Plan ``incident`` (single flight: an existing thread is reported, not restarted).

        ``attempt`` > 1 plans the same incident again on a fresh thread (``thread_for``),
        so each attempt keeps its own checkpoint history and none inherits stale state.
        """
        thread_id = thread_for(incident.id, attempt)
        snapshot = await self._graph.aget_state(_config(thread_id))
        if snapshot.values:
            return waiting_of(thread_id, snapshot)
        initial: PlannerState = {
            "incident": incident.model_dump(mode="json"),
            "mode": mode.value,
            "blind": blind,
            "status": "new",
            "escalation_reasons": [],
        }
        return await self._run(thread_id, initial)

    async def recover(self, thread_id: str) -> Waiting:
        """After a crash: run on a thread that stopped between nodes (not at an interrupt).

        The interrupted node re-runs from its last checkpoint; the act node's idempotency
        journal turns a write that already happened into ``already_done`` (R17, CH-15).
        """
        snapshot = await self._graph.aget_state(_config(thread_id))
        if snapshot.next and not snapshot.interrupts:
            await self._graph.ainvoke(
                None, _config(thread_id), context=self._context, durability="sync"
            )
        return await self.status(thread_id)

    async def resume_approval(self, thread_id: str, approval: Approval | dict[str, Any]) -> Waiting:
        """Deliver a human's answer; ignored unless the thread waits for an approval."""
        current = await self.status(thread_id)
        if current.kind != "approval":
            return current
        reply = approval.model_dump(mode="json") if isinstance(approval, Approval) else approval
        return await self._run(thread_id, Command(resume=reply))

    async def resume_bake(self, thread_id: str) -> Waiting:
        """Verify once the bake window has passed; earlier calls change nothing."""
        current = await self.status(thread_id)
        if current.kind != "bake" or current.due is None:
            return current
        if self._context.clock.now() < current.due:
            return current
        return await self._run(thread_id, Command(resume={"kind": "bake"}))

    async def expire(self, thread_id: str) -> Waiting:
        """Reject a pending approval whose TTL has passed (expiry is never an approval)."""
        current = await self.status(thread_id)
        if current.kind != "approval" or current.request is None:
            return current
        now = self._context.clock.now()
        if now <= current.request.expires_at:
            return current
        reply = expired_approval(current.request, now).model_dump(mode="json")
        return await self._run(thread_id, Command(resume=reply))

    async def withdraw(self, thread_id: str, note: str) -> Waiting:
        """Reject a pending approval that is no longer wanted (its incident resolved)."""
        current = await self.status(thread_id)
        if current.kind != "approval" or current.request is None:
            return current
        now = self._context.clock.now()
        reply = withdrawn_approval(current.request, now, note).model_dump(mode="json")
        return await self._run(thread_id, Command(resume=reply))

    async def pending(self) -> Sequence[Waiting]:
        """Every thread the checkpointer holds that waits for an approval or a bake."""
        saver = self._graph.checkpointer
        if saver is None or isinstance(saver, bool):
            return ()
        threads: list[str] = []
        async for item in saver.alist(None):
            thread = str(item.config["configurable"]["thread_id"])
            if thread not in threads:
                threads.append(thread)
        waits = [await self.status(thread) for thread in sorted(threads)]
        return tuple(w for w in waits if w.kind != "done")


def memory_runner(context: PlannerContext) -> PlannerRunner:
    """A runner whose threads live only as long as this process (replay and tests; the
    live operator uses a durable checkpointer so pending approvals survive a restart)."""
    return PlannerRunner(build_graph(InMemorySaver()), context)


Checkpointer = BaseCheckpointSaver[Any]
"""Where graph threads are kept (in memory for replay, SQLite for the operator)."""


@asynccontextmanager
async def memory_checkpointer() -> AsyncIterator[Checkpointer]:
    """Threads that live as long as this process (replay and tests)."""
    yield InMemorySaver()


@asynccontextmanager
async def sqlite_checkpointer(path: Path) -> AsyncIterator[Checkpointer]:
    """Threads kept in an SQLite file: pending approvals and bakes survive a restart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        yield saver
