"""Kubernetes and change events: deploys, config changes, pod failures, rollout progress."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from controller.models.base import FrozenModel, UtcDatetime
from controller.models.workloads import WorkloadRef


class EventKind(StrEnum):
    """What happened. Deploys and config changes are *changes*; the rest are observations."""

    DEPLOY = "deploy"
    CONFIG_CHANGE = "config_change"
    ROLLOUT_COMPLETE = "rollout_complete"
    ROLLOUT_STALLED = "rollout_stalled"
    SCALE = "scale"
    POD_CRASH = "pod_crash"
    OOM_KILLED = "oom_killed"
    KUBERNETES = "kubernetes"


CHANGE_KINDS = frozenset({EventKind.DEPLOY, EventKind.CONFIG_CHANGE})


class ClusterEvent(FrozenModel):
    """One event. Deploys carry the revision they rolled out and the one they replaced."""

    time: UtcDatetime
    kind: EventKind
    workload: WorkloadRef
    reason: str = Field(default="", max_length=256)
    message: str = Field(default="", max_length=4096)
    revision: int | None = Field(default=None, ge=1)
    previous_revision: int | None = Field(default=None, ge=1)
    image: str | None = None
    actor: str | None = Field(default=None, description="Who made the change, when known.")

    @property
    def is_change(self) -> bool:
        """Whether this event changed the workload (a deploy or a config change)."""
        return self.kind in CHANGE_KINDS
