"""Apply a decided action the controller-runtime way: reconcile, never fire blindly.

kill switch -> re-read live state -> already there? -> preconditions still hold? ->
dry run? -> conditional write (resource version) -> ActionResult. Everything that can go
wrong becomes a FAILED result with a reason; nothing here retries (the loop re-plans).

Two optional hooks for writers to a real cluster (the simulated cluster uses neither, so
replay is unchanged): ``receipts`` answers whether the step's idempotency key is already
recorded on the object (a rollback the deployment controller renumbered shows no
``current_revision == to_revision``, but carries its receipt), and a writer with
``records_only`` (the shadow writer) makes every write a dry run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from controller.errors import AiopsError, PermanentError, TemporaryError
from controller.models.actions import (
    Action,
    AdjustHpaAction,
    PauseRolloutAction,
    RestartAction,
    RollbackAction,
    ScaleAction,
    is_mutating,
)
from controller.models.decisions import ActionResult, ActionStatus
from controller.ports import ClusterReader, ClusterWriter, KillSwitch, LiveWorkload


def _through_adapter(action: Action) -> bool:
    """Whether ``action`` writes a KEDA ScaledObject or an Argo Rollout, not the Deployment.

    Those objects are not in the Deployment's inventory, so only the writer, reading them
    live, can tell whether the action is already there or its plan went stale; the
    actuator leaves both checks to it (``receipts`` still recognises a landed step).
    """
    return isinstance(action, ScaleAction | AdjustHpaAction) and action.adapter is not None


def is_satisfied(action: Action, live: LiveWorkload, key: str) -> bool:
    """Whether the live object already is what the action would make it."""
    inventory = live.inventory
    if _through_adapter(action):
        return False
    if isinstance(action, ScaleAction):
        return inventory.replicas.desired == action.to_replicas
    if isinstance(action, AdjustHpaAction):
        hpa = inventory.hpa
        return hpa is not None and (hpa.min_replicas, hpa.max_replicas) == (
            action.to_min,
            action.to_max,
        )
    if isinstance(action, RollbackAction):
        return inventory.current_revision == action.to_revision
    if isinstance(action, PauseRolloutAction):
        return live.paused
    if isinstance(action, RestartAction):
        return live.restart_token == key
    return True


def precondition_problem(action: Action, live: LiveWorkload) -> str | None:
    """Why the plan no longer fits the live object (it changed since planning), or None."""
    inventory = live.inventory
    if _through_adapter(action):
        return None
    if isinstance(action, ScaleAction) and inventory.replicas.desired != action.from_replicas:
        return (
            f"replicas changed from {action.from_replicas} to {inventory.replicas.desired} "
            "since planning"
        )
    if isinstance(action, AdjustHpaAction):
        hpa = inventory.hpa
        if hpa is None or hpa.name != action.hpa_name:
            return f"HPA {action.hpa_name} no longer owns the workload"
        if (hpa.min_replicas, hpa.max_replicas) != (action.from_min, action.from_max):
            return (
                f"HPA bounds changed from {action.from_min}-{action.from_max} to "
                f"{hpa.min_replicas}-{hpa.max_replicas} since planning"
            )
    if isinstance(action, RollbackAction) and inventory.current_revision != action.from_revision:
        return (
            f"current revision changed from {action.from_revision} to "
            f"{inventory.current_revision} since planning"
        )
    return None


class Receipts(Protocol):
    """Whether a step's write already landed, read from the object it wrote (R17)."""

    def applied(self, action: Action, key: str) -> bool:
        """True when the object ``action`` writes records ``key`` as its last action."""
        ...


@runtime_checkable
class RecordingWriter(Protocol):
    """A ClusterWriter that records would-be writes and changes nothing (shadow mode)."""

    records_only: bool


SHADOW_NOTE = "shadow writer: recorded the would-be write, changed nothing"


class Actuator:
    """Reconciles one decided action against the cluster behind the injected ports."""

    def __init__(
        self,
        *,
        reader: ClusterReader,
        writer: ClusterWriter,
        kill_switch: KillSwitch,
        receipts: Receipts | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._kill_switch = kill_switch
        self._receipts = receipts
        self._shadow = isinstance(writer, RecordingWriter) and bool(writer.records_only)

    def execute(
        self,
        action: Action,
        *,
        plan_hash: str,
        key: str,
        dry_run: bool,
        now: datetime,
        revert_of: str | None = None,
    ) -> ActionResult:
        """Run the reconcile sequence and report what happened."""
        status, detail = self._reconcile(action, key=key, dry_run=dry_run, now=now)
        return ActionResult(
            plan_hash=plan_hash,
            idempotency_key=key,
            action=action,
            status=status,
            at=now,
            detail=detail,
            revert_of=revert_of,
        )

    def _reconcile(
        self, action: Action, *, key: str, dry_run: bool, now: datetime
    ) -> tuple[ActionStatus, str]:
        if not is_mutating(action) or action.target is None:
            raise ValueError(f"{action.kind} does not change the cluster")
        if self._kill_switch.engaged():
            return ActionStatus.FAILED, "kill switch engaged: no mutation"
        try:
            live = self._reader.get_workload(action.target)
        except TemporaryError as exc:  # a live reader that cannot see (unsynced, API down)
            return ActionStatus.FAILED, f"cannot read the live object: {exc}"
        if live is None:
            return ActionStatus.FAILED, f"{action.target} no longer exists"
        if is_satisfied(action, live, key) or self._receipted(action, key):
            return ActionStatus.ALREADY_DONE, "live state already matches; nothing written"
        problem = precondition_problem(action, live)
        if problem is not None:
            return ActionStatus.FAILED, f"precondition failed: {problem}; re-plan needed"
        if dry_run:
            return ActionStatus.DRY_RUN, "dry run: would apply, changed nothing"
        try:
            self._writer.apply(
                action, resource_version=live.resource_version, idempotency_key=key, now=now
            )
        except TemporaryError as exc:
            return ActionStatus.FAILED, f"write failed: {exc}"
        except PermanentError as exc:
            return ActionStatus.FAILED, f"write refused, not retried: {exc}"
        if self._shadow:
            return ActionStatus.DRY_RUN, SHADOW_NOTE
        return ActionStatus.APPLIED, f"conditional write at resourceVersion {live.resource_version}"

    def _receipted(self, action: Action, key: str) -> bool:
        if self._receipts is None:
            return False
        try:
            return self._receipts.applied(action, key)
        except AiopsError:  # cannot tell: go on; the conditional write still protects
            return False
