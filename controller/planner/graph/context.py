"""``PlannerContext``: the ports and settings a graph run needs, injected through LangGraph's
``Runtime`` context and never checkpointed (they are live objects, rebuilt after a restart).

``ActionHistory`` is the planner's view of what was already done: the cooldown and rate-cap
history the guardrails need, the per-idempotency-key intent/result journal that makes the act
node exactly-once across crashes (R17), and the targets frozen after a failed remediation
(CH-14). ``controller.state.history.StoredHistory`` implements it over the state store
(SQLite live, its in-memory twin in replay and tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from opentelemetry import trace

from controller.guardrails.loader import LoadedPolicy
from controller.models.decisions import ActionResult
from controller.models.facts import PastAction
from controller.models.workloads import WorkloadRef
from controller.planner.runbook.catalog import Runbook
from controller.ports import (
    ActionExecutor,
    Clock,
    ClusterReader,
    LedgerSink,
    MetricsSource,
    PlanProposer,
)


class ActionHistory(Protocol):
    """What was done before, keyed so that a re-run never repeats an effect."""

    def past_actions(self) -> Sequence[PastAction]:
        """Applied actions, oldest first (cooldowns, rate caps)."""
        ...

    def started(self, key: str) -> bool:
        """Whether an execution with this idempotency key was ever begun."""
        ...

    def start(self, key: str, baseline: dict[str, Any] | None = None) -> None:
        """Note, before the mutating call, that this key is being executed, with the
        verification baseline seen before it (a crash after the write must not lose it)."""
        ...

    def intent(self, key: str) -> dict[str, Any] | None:
        """The baseline kept by ``start`` for ``key``, or None."""
        ...

    def result(self, key: str) -> ActionResult | None:
        """The finished result for this key, or None."""
        ...

    def finish(self, result: ActionResult) -> None:
        """Keep the result (and a PastAction when it changed the cluster)."""
        ...

    def freeze(self, target: WorkloadRef, reason: str) -> None:
        """No further automatic action on ``target`` until a human lifts it."""
        ...

    def frozen(self, target: WorkloadRef) -> str | None:
        """Why ``target`` is frozen, or None."""
        ...


@dataclass(frozen=True, slots=True)
class PlannerSettings:
    """How the graph runs: approval TTL (``Settings.approvals``) and open or closed loop."""

    approval_ttl: timedelta = timedelta(minutes=15)
    """An unanswered approval request is rejected after this long (R3, CH-17)."""
    approvers: frozenset[str] | None = None
    """Who may approve (channel-qualified ids, e.g. ``console:alice``); None: anyone the
    channel lets answer. Checked by ``judge_reply`` for answers from every channel."""
    open_loop: bool = False
    """Replay: metrics are a recording that cannot react to our action, so verification
    is reported but never reverts (a closed-loop verdict would judge the recording)."""


@dataclass(frozen=True, slots=True)
class PlannerContext:
    """Everything a node may touch besides the state. ``proposer=None`` plans with runbooks
    only (no key, LLM disabled); the runbook plan is computed in shadow either way (R13)."""

    runbooks: Sequence[Runbook]
    policy: LoadedPolicy
    reader: ClusterReader
    metrics: MetricsSource
    executor: ActionExecutor
    ledger: LedgerSink
    clock: Clock
    history: ActionHistory
    proposer: PlanProposer | None = None
    settings: PlannerSettings = PlannerSettings()
    tracer: trace.Tracer = field(default_factory=lambda: trace.get_tracer("aiops.planner"))
    """Each node runs in a span ``planner.<node>`` (the process's provider unless given)."""
