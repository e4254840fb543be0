"""Inputs the guardrails judge a plan against: what is true of the target and of the past.

Built by the caller (replay engine, live loop) from the cluster and the ledger, so that the
policy engine itself stays a pure function.
"""

from __future__ import annotations

from pydantic import Field

from controller.models.actions import ActionKind
from controller.models.base import FrozenModel, UtcDatetime
from controller.models.modes import Mode
from controller.models.workloads import NamespaceInfo, WorkloadInventory, WorkloadRef


class TargetFacts(FrozenModel):
    """The live (or replayed) state of the plan's target when the plan is judged."""

    target: WorkloadRef | None = Field(description="The plan's target; None for no target.")
    inventory: WorkloadInventory | None = Field(description="None: the target does not exist.")
    namespace: NamespaceInfo | None = None
    input_ages: dict[str, float | None] = Field(
        default_factory=dict,
        description="Age in seconds of the newest sample of each signal the plan rests on; "
        "None means no data at all.",
    )
    blind: bool = Field(default=False, description="A required observer or the cache is blind.")
    rollout_in_progress: bool = False
    mode: Mode = Field(default=Mode.NORMAL, description="The controller's operating mode.")


class PastAction(FrozenModel):
    """An action already applied (from the ledger): feeds cooldowns and rate caps."""

    at: UtcDatetime
    target: WorkloadRef
    kind: ActionKind
