"""``PlannerState``: what the graph checkpoints for one incident (thread_id = incident id).

Only JSON-able values are stored (models as ``model_dump(mode="json")``), never live objects:
a checkpoint must survive a restart and a library upgrade, and the checkpointer's serialiser
then never has to revive arbitrary classes. Nodes read the models back through ``load``.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict, TypeVar, get_args

from pydantic import BaseModel

Status = Literal[
    "new",
    "planned",
    "denied",
    "awaiting_approval",
    "approved",
    "acted",
    "awaiting_bake",
    "verified",
    "reverted",
    "escalated",
    "done",
]
"""Where one incident stands; routers key on it and raise on combinations that cannot be."""

STATUSES: frozenset[str] = frozenset(get_args(Status))

Why = Literal["llm", "runbook_only", "fallback", "disagreement"]
"""Why the chosen plan was chosen: the LLM's valid plan, no proposer configured, the LLM
failed (reason in ``llm_outcome``), or the LLM's plan disagrees with the runbook's (a human
must approve it, CH-06)."""

Json = dict[str, Any]

M = TypeVar("M", bound=BaseModel)


class PlannerState(TypedDict, total=False):
    """The checkpointed state; every node returns a partial update of it."""

    incident: Json
    mode: str
    blind: bool
    facts: Json | None
    inventory: Json | None
    runbook_plan: Json | None
    llm_outcome: Json | None
    plan: Json | None
    why: Why | None
    why_detail: str
    decision: Json | None
    approval_request: Json | None
    approval: Json | None
    action_result: Json | None
    baseline: Json | None
    bake_due: str | None
    verification: Json | None
    revert_result: Json | None
    status: Status
    escalation_reasons: Annotated[list[str], operator.add]
    """Appended to by every node that hands the incident to a human (a reducer, not a
    replace), so the escalate node can say everything at once."""


def dump(model: BaseModel | None) -> Json | None:
    """A model as checkpointable JSON data (None stays None)."""
    return None if model is None else model.model_dump(mode="json")


def load(state: PlannerState, key: str, model: type[M]) -> M | None:
    """Read the model stored under ``key`` back, or None when absent."""
    data = state.get(key)
    if data is None:
        return None
    return model.model_validate(data)


def need(state: PlannerState, key: str, model: type[M]) -> M:
    """Like ``load`` but for a field the graph's shape guarantees at this node.

    Raises:
        RuntimeError: the field is missing, which means the graph was wired wrongly.
    """
    value = load(state, key, model)
    if value is None:
        raise RuntimeError(f"planner state has no {key!r} at this point of the graph")
    return value


def status_of(state: PlannerState) -> Status:
    """The state's status; a missing or unknown one is a wiring error, never a default."""
    status = state.get("status")
    if status is None or status not in STATUSES:
        raise RuntimeError(f"planner state has an impossible status {status!r}")
    return status
