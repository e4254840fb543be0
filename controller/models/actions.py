"""Remediation actions (a discriminated union on ``kind``) and plans with a stable hash."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, model_validator
from pydantic.json_schema import SkipJsonSchema

from controller.models.base import Duration, FrozenModel, UtcDatetime, canonical_json, sha256_hex
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef


class ActionKind(StrEnum):
    """Every action the controller can propose. Nothing else exists: no delete, no exec."""

    SCALE = "scale"
    ROLLBACK = "rollback"
    RESTART = "restart"
    PAUSE_ROLLOUT = "pause_rollout"
    ADJUST_HPA = "adjust_hpa"
    NO_ACTION = "no_action"
    ESCALATE = "escalate"


MUTATING_KINDS = frozenset(
    {
        ActionKind.SCALE,
        ActionKind.ROLLBACK,
        ActionKind.RESTART,
        ActionKind.PAUSE_ROLLOUT,
        ActionKind.ADJUST_HPA,
    }
)
"""Kinds that change the cluster; the others only inform humans."""


class Risk(StrEnum):
    """How much harm a wrong action of this plan could do."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Order for comparisons (low < medium < high)."""
        return {"low": 0, "medium": 1, "high": 2}[self.value]


class ScalingAdapter(StrEnum):
    """Another controller's object through which a scale or a bounds change is written.

    When KEDA or Argo Rollouts owns a Deployment's replicas, writing the Deployment would
    fight that controller (R16); changing *its* object does not. The policy names the
    adapters it allows (``spec.scaling.adapters``), and an action names the one it goes
    through (``adapter``), so both the guardrails and the writer can refuse the rest.
    """

    KEDA = "keda"
    ARGO_ROLLOUTS = "argo-rollouts"


def _adapter_field() -> Any:
    """``adapter``: None (the default) is the native path, and is left out of the JSON.

    Left out when None, so every existing action, plan hash and ledger line stays byte-
    identical; skipped in JSON Schemas, so the LLM's ``submit_plan`` tool and the published
    schemas do not change either (the runbook planner and humans name adapters, not the
    model).
    """
    return Field(default=None, exclude_if=lambda value: value is None)


# The docstrings of the action models are their JSON Schema descriptions, which the LLM
# reads in its submit_plan tool: keep them to what the model needs. About ``adapter``:
# None writes ``spec.replicas`` of the Deployment (its scale subresource); ``argo-rollouts``
# writes ``spec.replicas`` of the Argo ``Rollout`` whose ``workloadRef`` names the
# Deployment (in workloadRef mode the Rollout runs the pods and Argo scales the Deployment
# itself down), and ``from_replicas`` is the Rollout's count. KEDA has no replica count to
# set (it scales between bounds): that is ``adjust_hpa`` with ``adapter: keda``.
class ScaleAction(FrozenModel):
    """Set ``spec.replicas`` of a workload that no autoscaler owns."""

    kind: Literal["scale"] = "scale"
    target: WorkloadRef
    from_replicas: int = Field(ge=0)
    to_replicas: int = Field(ge=0)
    adapter: SkipJsonSchema[ScalingAdapter | None] = _adapter_field()

    @model_validator(mode="after")
    def _adapter_scales(self) -> ScaleAction:
        if self.adapter is ScalingAdapter.KEDA:
            raise ValueError(
                "KEDA scales between bounds: change minReplicaCount/maxReplicaCount with "
                "adjust_hpa and adapter keda, not a scale"
            )
        return self


class RollbackAction(FrozenModel):
    """Roll the Deployment back to an earlier revision of its own history."""

    kind: Literal["rollback"] = "rollback"
    target: WorkloadRef
    from_revision: int = Field(ge=1)
    to_revision: int = Field(ge=1)
    to_image: str | None = None

    @model_validator(mode="after")
    def _backwards(self) -> RollbackAction:
        if self.to_revision >= self.from_revision:
            raise ValueError("a rollback must go to an older revision")
        return self


class RestartAction(FrozenModel):
    """Rolling restart (new pods, same revision): the fix for leaks, not for bad code."""

    kind: Literal["restart"] = "restart"
    target: WorkloadRef


class PauseRolloutAction(FrozenModel):
    """Pause an in-flight rollout so a human can decide."""

    kind: Literal["pause_rollout"] = "pause_rollout"
    target: WorkloadRef
    revision: int | None = Field(default=None, ge=1)


# One kind for every autoscaler, so a policy allows "changing bounds" once; ``adapter``
# says whose bounds: None, the HPA ``hpa_name`` that targets the Deployment
# (``minReplicas``/``maxReplicas``); ``keda``, the KEDA ``ScaledObject`` ``hpa_name`` that
# targets the Deployment (``minReplicaCount``/``maxReplicaCount``; KEDA rewrites its own HPA
# from them); ``argo-rollouts``, the HPA ``hpa_name`` that targets the Argo ``Rollout``
# managing the Deployment (workloadRef mode). (A comment, not the docstring: see above.)
class AdjustHpaAction(FrozenModel):
    """Change an HPA's bounds: how to scale a workload whose replicas the HPA owns."""

    kind: Literal["adjust_hpa"] = "adjust_hpa"
    target: WorkloadRef
    hpa_name: str = Field(min_length=1)
    from_min: int = Field(ge=1)
    from_max: int = Field(ge=1)
    to_min: int = Field(ge=1)
    to_max: int = Field(ge=1)
    adapter: SkipJsonSchema[ScalingAdapter | None] = _adapter_field()

    @model_validator(mode="after")
    def _ordered(self) -> AdjustHpaAction:
        if self.to_min > self.to_max or self.from_min > self.from_max:
            raise ValueError("HPA min must not exceed max")
        return self


class NoAction(FrozenModel):
    """Deliberately do nothing (for example: the signal is within bounds)."""

    kind: Literal["no_action"] = "no_action"
    target: WorkloadRef | None = None
    reason: str = Field(min_length=1, max_length=2000)


class EscalateAction(FrozenModel):
    """Hand the incident to a human with the diagnosis attached."""

    kind: Literal["escalate"] = "escalate"
    target: WorkloadRef | None = None
    reason: str = Field(min_length=1, max_length=2000)


Action = Annotated[
    ScaleAction
    | RollbackAction
    | RestartAction
    | PauseRolloutAction
    | AdjustHpaAction
    | NoAction
    | EscalateAction,
    Field(discriminator="kind"),
]
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)


def is_mutating(action: Action) -> bool:
    """Whether applying ``action`` writes to the cluster."""
    return ActionKind(action.kind) in MUTATING_KINDS


class PlannerKind(StrEnum):
    """Which planner wrote a plan."""

    RUNBOOK = "runbook"
    LLM = "llm"


class Evidence(FrozenModel):
    """One number behind a plan: what was measured, against which threshold, over what window."""

    name: str = Field(min_length=1, max_length=200)
    value: float | None = None
    unit: str = ""
    threshold: float | None = None
    window: Duration | None = None
    detail: str = Field(default="", max_length=2000)


class VerificationSpec(FrozenModel):
    """What the plan promises: ``signal`` moves in ``expect`` direction by ``min_improvement``."""

    signal: Signal
    expect: Literal["decrease", "increase"]
    min_improvement: float = Field(
        default=0.2, gt=0, lt=1, description="Relative change versus the pre-action baseline."
    )
    bake: Duration = Field(description="How long to wait after acting before judging.")


class Plan(FrozenModel):
    """A proposal for one incident: one action, why, the evidence, and how to verify it."""

    incident_id: str = Field(min_length=1, max_length=200)
    planner: PlannerKind
    runbook_id: str | None = None
    action: Action
    risk: Risk
    rationale: str = Field(min_length=1, max_length=4000)
    evidence: tuple[Evidence, ...] = ()
    verification: VerificationSpec | None = None
    snapshot_at: UtcDatetime = Field(description="Time of the observations the plan rests on.")

    def plan_hash(self) -> str:
        """Stable content hash over what would be *done*: the approval binds to it.

        Prose (rationale, evidence) is left out on purpose: rewording an explanation does not
        change what a human approved; changing the action, its target or magnitude does.
        """
        content = {
            "incident_id": self.incident_id,
            "action": self.action.model_dump(mode="json"),
            "risk": self.risk.value,
            "verification": None
            if self.verification is None
            else self.verification.model_dump(mode="json"),
        }
        return sha256_hex(canonical_json(content))


def describe(action: Action) -> str:
    """One human sentence for an action, used in timelines, ledgers and reports."""
    if isinstance(action, ScaleAction):
        via = " (its Argo Rollout)" if action.adapter is ScalingAdapter.ARGO_ROLLOUTS else ""
        return f"scale {action.target}{via} {action.from_replicas} -> {action.to_replicas} replicas"
    if isinstance(action, RollbackAction):
        image = f" ({action.to_image})" if action.to_image else ""
        return f"rollback {action.target} rev {action.from_revision} -> {action.to_revision}{image}"
    if isinstance(action, AdjustHpaAction):
        what = "KEDA ScaledObject" if action.adapter is ScalingAdapter.KEDA else "HPA"
        return (
            f"adjust {what} {action.hpa_name} of {action.target}: min {action.from_min} -> "
            f"{action.to_min}, max {action.from_max} -> {action.to_max}"
        )
    if isinstance(action, RestartAction):
        return f"rolling restart of {action.target}"
    if isinstance(action, PauseRolloutAction):
        return f"pause rollout of {action.target}"
    if isinstance(action, NoAction):
        return f"no action: {action.reason}"
    return f"escalate to a human: {action.reason}"


def idempotency_key(incident_id: str, plan_hash: str, step: int = 0) -> str:
    """Stable key of one step of one plan: the same approved step never has two effects."""
    return sha256_hex(f"{incident_id}:{plan_hash}:{step}")[:32]


def inverse(action: Action) -> Action | None:
    """The action that restores the state before ``action``, when one is safe to automate.

    Scaling and HPA bounds revert exactly, through the same adapter (``model_copy`` keeps
    ``adapter``: a KEDA bounds change reverts on the ScaledObject, an Argo scale on the
    Rollout). A rollback is not reverted automatically (that would re-deploy the suspect
    revision), and a restart or pause cannot be undone by us: those escalate to a human
    instead.
    """
    if isinstance(action, ScaleAction):
        return action.model_copy(
            update={"from_replicas": action.to_replicas, "to_replicas": action.from_replicas}
        )
    if isinstance(action, AdjustHpaAction):
        return action.model_copy(
            update={
                "from_min": action.to_min,
                "from_max": action.to_max,
                "to_min": action.from_min,
                "to_max": action.from_max,
            }
        )
    return None
