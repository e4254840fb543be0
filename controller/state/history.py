"""``StoredHistory``: the planner's ``ActionHistory`` over a ``StateStore``.

Cooldowns and rate caps (applied actions), the idempotency journal that makes the act node
exactly-once across crashes (R17: ``start`` is written before the mutating call, ``finish``
after it), and the freezes a failed remediation leaves (CH-14). With the SQLite store all of
it survives a restart; with the in-memory twin it lives as long as the process (replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.models.actions import ActionKind
from controller.models.decisions import ActionResult, ActionStatus
from controller.models.facts import PastAction
from controller.models.workloads import WorkloadRef
from controller.state.store import InMemoryStateStore, StateStore

ACTIONS = "history.actions"
BEGUN = "history.begun"
RESULTS = "history.results"
FREEZES = "history.freezes"


class StoredHistory:
    """What was done before, keyed so that a re-run never repeats an effect."""

    def __init__(self, store: StateStore | None = None) -> None:
        self.store: StateStore = InMemoryStateStore() if store is None else store

    def past_actions(self) -> Sequence[PastAction]:
        """Applied actions, oldest first (keys sort by time)."""
        return tuple(PastAction.model_validate(v) for _, v in self.store.items(ACTIONS))

    def started(self, key: str) -> bool:
        """Whether an execution with this idempotency key was ever begun."""
        return self.store.get(BEGUN, key) is not None

    def start(self, key: str, baseline: dict[str, Any] | None = None) -> None:
        """Note, before the mutating call, that ``key`` is being executed (with the
        verification baseline seen before it, so a crash after the write keeps it)."""
        self.store.put(BEGUN, key, {"baseline": baseline})

    def intent(self, key: str) -> dict[str, Any] | None:
        """The baseline kept by ``start`` for ``key``, or None."""
        raw = self.store.get(BEGUN, key)
        baseline = raw.get("baseline") if isinstance(raw, dict) else None
        return baseline if isinstance(baseline, dict) else None

    def result(self, key: str) -> ActionResult | None:
        """The finished result for ``key``, or None."""
        raw = self.store.get(RESULTS, key)
        return None if raw is None else ActionResult.model_validate(raw)

    def finish(self, result: ActionResult) -> None:
        """Keep ``result``; an applied action also counts for cooldowns and caps."""
        self.store.put(RESULTS, result.idempotency_key, result.model_dump(mode="json"))
        target = result.action.target
        if result.status is ActionStatus.APPLIED and target is not None:
            past = PastAction(at=result.at, target=target, kind=ActionKind(result.action.kind))
            key = f"{result.at.isoformat()}#{result.idempotency_key}"
            self.store.put(ACTIONS, key, past.model_dump(mode="json"))

    def freeze(self, target: WorkloadRef, reason: str) -> None:
        """No further automatic action on ``target`` until a human lifts it."""
        self.store.put(FREEZES, target.key, reason)

    def frozen(self, target: WorkloadRef) -> str | None:
        """Why ``target`` is frozen, or None."""
        raw = self.store.get(FREEZES, target.key)
        return None if raw is None else str(raw)

    def unfreeze(self, target: WorkloadRef) -> None:
        """A human lifted the freeze on ``target``."""
        self.store.delete(FREEZES, target.key)
