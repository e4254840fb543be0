"""The Argo Rollouts adapter: a workloadRef Rollout is scaled through its own fields.

In workloadRef mode the Rollout (``argoproj.io/v1alpha1``) references an existing
Deployment's pod template and runs the pods itself; Argo scales the Deployment down
(``workloadRef.scaleDown``: never, onsuccess, progressively), so the Deployment's
``spec.replicas`` is not the capacity and writing it fights Argo (R16). The replica count
that matters is the Rollout's ``spec.replicas`` (Argo's ``/scale`` subresource maps onto it,
which is what an HPA targeting the Rollout writes). So:

- ``ScaleAction`` with ``adapter: argo-rollouts`` patches the Rollout's ``spec.replicas``,
  unless an HPA or a KEDA ScaledObject targets the Rollout (then it owns that field, and the
  writer refuses: change the HPA's bounds instead);
- ``AdjustHpaAction`` with ``adapter: argo-rollouts`` changes the bounds of the HPA that
  targets the Rollout (``controller.kube.scale.plan_adapted``).

The Rollout write is one JSON merge patch (custom resources have no strategic merge),
conditional on the Rollout's ``metadata.resourceVersion``, with the receipt annotations
(idempotency key, pre-state ``rollout``/``replicas`` for the revert) on the Rollout; the
writer dry-runs it first. A Rollout marked only by a ``rollouts.argoproj.io/*`` annotation
on the Deployment has no object to write: every action stays refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.kube.errors import PreconditionFailed
from controller.kube.fields import mapping, name_of, namespace_of, parse_int
from controller.kube.inventory import targets_deployment
from controller.kube.writes import (
    Planned,
    PlannedWrite,
    Resource,
    WorkloadView,
    metadata_patch,
    receipt_annotations,
)
from controller.models.actions import ScaleAction

Obj = Mapping[str, Any]

ROLLOUT_GROUP = "argoproj.io"


def rollout_of(deployment: Obj, rollouts: Sequence[Obj]) -> Obj | None:
    """The Rollout whose ``workloadRef`` names ``deployment`` (first by name), or None."""
    matching = [
        rollout
        for rollout in rollouts
        if namespace_of(rollout) == namespace_of(deployment)
        and targets_deployment(mapping(mapping(rollout.get("spec")).get("workloadRef")), deployment)
    ]
    return min(matching, key=name_of) if matching else None


def targets_rollout(target: Obj, rollout: Obj) -> bool:
    """Whether a ``scaleTargetRef`` names ``rollout`` (``argoproj.io/*``, kind Rollout)."""
    group = str(target.get("apiVersion") or "").split("/")[0]
    return (
        target.get("kind") == "Rollout"
        and group == ROLLOUT_GROUP
        and target.get("name") == name_of(rollout)
    )


def autoscalers_of(rollout: Obj, objects: Sequence[Obj]) -> list[Obj]:
    """The HPAs or ScaledObjects among ``objects`` whose ``scaleTargetRef`` is ``rollout``."""
    return [
        obj
        for obj in objects
        if namespace_of(obj) == namespace_of(rollout)
        and targets_rollout(mapping(mapping(obj.get("spec")).get("scaleTargetRef")), rollout)
    ]


def rollout_replicas(rollout: Obj) -> int:
    """``spec.replicas`` of the Rollout (Argo's default is 1, like a Deployment's)."""
    value = parse_int(mapping(rollout.get("spec")).get("replicas"))
    return 1 if value is None else value


def plan_rollout_scale(action: ScaleAction, view: WorkloadView, key: str) -> Planned | None:
    """The Rollout's ``spec.replicas`` patch; None when it already is the target."""
    rollout = rollout_of(view.deployment, view.rollouts)
    if rollout is None:
        raise PreconditionFailed(f"no Argo Rollout manages {view.label} any more: re-plan")
    current = rollout_replicas(rollout)
    if current == action.to_replicas:
        return None
    if current != action.from_replicas:
        raise PreconditionFailed(
            f"Rollout {name_of(rollout)} of {view.label} has {current} replicas, the plan "
            f"expected {action.from_replicas}: re-plan"
        )
    pre = {"rollout": name_of(rollout), "replicas": current}
    version = str(mapping(rollout.get("metadata")).get("resourceVersion") or "")
    body = metadata_patch(version, receipt_annotations(key, action.kind, pre))
    body["spec"] = {"replicas": action.to_replicas}
    write = PlannedWrite(Resource.ROLLOUT, view.namespace, name_of(rollout), body)
    return Planned((write,), pre)
