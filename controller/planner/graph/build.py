"""``build_graph(checkpointer)``: the planner as a LangGraph state machine.

gather_context -> propose -> reconcile -> guard -> [request_approval] -> act -> [wait_bake
-> verify -> (revert_and_escalate)] -> finish | escalate. Nothing is compiled at import time;
the caller chooses the checkpointer (InMemorySaver in tests and replay, a durable SQLite
saver live) and injects a ``PlannerContext`` per run. No LangGraph RetryPolicy is attached
to any node: the one retry layer lives in the adapters (R9, CH-22).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphInterrupt
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from opentelemetry.trace import Status, StatusCode

from controller.planner.graph import nodes
from controller.planner.graph.context import PlannerContext
from controller.planner.graph.routes import (
    route_after_act,
    route_after_approval,
    route_after_gather,
    route_after_guard,
    route_after_verify,
)
from controller.planner.graph.state import PlannerState

PlannerGraph = CompiledStateGraph[PlannerState, PlannerContext, PlannerState, PlannerState]

NODES = (
    "gather_context",
    "propose",
    "reconcile",
    "guard",
    "request_approval",
    "act",
    "wait_bake",
    "verify",
    "revert_and_escalate",
    "escalate",
    "finish",
)


class Node(Protocol):
    """A planner node as LangGraph calls it: the state, and the runtime by keyword."""

    def __call__(
        self, state: PlannerState, *, runtime: Runtime[PlannerContext]
    ) -> Awaitable[PlannerState]: ...


def traced(name: str, node: Node) -> Node:
    """``node`` inside an OpenTelemetry span ``planner.<name>`` tagged with the incident.

    An interrupt (waiting for a human or a bake) is how a node pauses, not a failure: the
    span notes it and keeps an OK status; any other exception marks the span as an error.
    """

    async def run(state: PlannerState, *, runtime: Runtime[PlannerContext]) -> PlannerState:
        incident = state.get("incident") or {}
        with runtime.context.tracer.start_as_current_span(
            f"planner.{name}", record_exception=False, set_status_on_exception=False
        ) as span:
            span.set_attribute("aiops.incident_id", str(incident.get("id", "")))
            try:
                update = await node(state, runtime=runtime)
            except GraphInterrupt:
                span.set_attribute("aiops.interrupted", True)
                raise
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            span.set_attribute("aiops.status", str(update.get("status", state.get("status"))))
            return update

    run.__name__ = name
    return run


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None) -> PlannerGraph:
    """Compile the planner graph with ``checkpointer`` (None: no interrupts can resume)."""
    builder = StateGraph(PlannerState, context_schema=PlannerContext)
    for name in NODES:
        builder.add_node(name, traced(name, getattr(nodes, name)))
    builder.add_edge(START, "gather_context")
    builder.add_conditional_edges("gather_context", route_after_gather, ["propose", "escalate"])
    builder.add_edge("propose", "reconcile")
    builder.add_edge("reconcile", "guard")
    builder.add_conditional_edges(
        "guard", route_after_guard, ["request_approval", "act", "escalate", "finish"]
    )
    builder.add_conditional_edges("request_approval", route_after_approval, ["act", "escalate"])
    builder.add_conditional_edges("act", route_after_act, ["wait_bake", "escalate", "finish"])
    builder.add_edge("wait_bake", "verify")
    builder.add_conditional_edges("verify", route_after_verify, ["finish", "revert_and_escalate"])
    builder.add_edge("revert_and_escalate", END)
    builder.add_edge("escalate", END)
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, name="planner")
