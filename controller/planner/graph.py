"""``build_graph(checkpointer)``: the planner as a LangGraph state machine.

gather_context -> propose -> reconcile -> guard -> [request_approval] -> act -> [wait_bake
-> verify -> (revert_and_escalate)] -> finish | escalate. Nothing is compiled at import time;
the caller chooses the checkpointer (InMemorySaver in tests and replay, a durable SQLite
saver live) and injects a ``PlannerContext`` per run. No LangGraph RetryPolicy is attached
to any node: the one retry layer lives in the adapters (R9, CH-22).
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from controller.planner import nodes
from controller.planner.context import PlannerContext
from controller.planner.routes import (
    route_after_act,
    route_after_approval,
    route_after_gather,
    route_after_guard,
    route_after_verify,
)
from controller.planner.state import PlannerState

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


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None) -> PlannerGraph:
    """Compile the planner graph with ``checkpointer`` (None: no interrupts can resume)."""
    builder = StateGraph(PlannerState, context_schema=PlannerContext)
    for name in NODES:
        builder.add_node(name, getattr(nodes, name))
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
