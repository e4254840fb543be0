"""Scale writes: ``spec.replicas`` through the scale subresource, or an HPA's bounds.

A ScaleAction never touches the Deployment object's spec: it patches
``deployments/{name}/scale`` (an ``autoscaling/v1`` Scale; what ``kubectl scale`` and the
HPA controller write), conditional on the Deployment's resourceVersion, then leaves its
receipt on the Deployment's metadata. An AdjustHpaAction patches the HPA's ``minReplicas``
and ``maxReplicas`` (never ``spec.replicas``: the HPA owns it), conditional on the HPA's
own resourceVersion, with its receipt on the HPA.

An action with an ``adapter`` (KEDA, Argo Rollouts) goes through ``plan_adapted`` instead:
the ScaledObject's bounds (``controller.kube.keda``), the Rollout's replicas
(``controller.kube.argo_rollouts``), or the bounds of the HPA that targets the Rollout (the
same ``plan_bounds`` as a plain HPA). ``absorb_adapted``, ``written_version`` and
``adapted_object`` let the writer treat those objects like the Deployment and the HPA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from controller.kube.argo_rollouts import autoscalers_of, plan_rollout_scale, rollout_of
from controller.kube.calls import KubeCalls
from controller.kube.errors import PreconditionFailed
from controller.kube.fields import mapping, name_of, parse_int
from controller.kube.inventory import hpa_for
from controller.kube.keda import plan_keda
from controller.kube.writes import (
    Planned,
    PlannedWrite,
    Resource,
    WorkloadView,
    metadata_patch,
    receipt_annotations,
)
from controller.models.actions import Action, AdjustHpaAction, ScaleAction, ScalingAdapter


def replicas_of(view: WorkloadView) -> int:
    """``spec.replicas`` of the Deployment (the API's default is 1)."""
    value = parse_int(mapping(view.deployment.get("spec")).get("replicas"))
    return 1 if value is None else value


def plan_scale(action: ScaleAction, view: WorkloadView, key: str) -> Planned | None:
    """The scale patch and its receipt; None when the replicas already are the target."""
    current = replicas_of(view)
    if current == action.to_replicas:
        return None
    if current != action.from_replicas:
        raise PreconditionFailed(
            f"{view.label} has {current} replicas, the plan expected {action.from_replicas}: "
            "re-plan"
        )
    version, pre = view.resource_version, {"replicas": current}
    scale = PlannedWrite(
        Resource.SCALE,
        view.namespace,
        view.name,
        {"metadata": {"resourceVersion": version}, "spec": {"replicas": action.to_replicas}},
    )
    receipt = PlannedWrite(
        Resource.DEPLOYMENT,
        view.namespace,
        view.name,
        metadata_patch(version, receipt_annotations(key, action.kind, pre)),
        receipt=True,
    )
    return Planned((scale, receipt), pre)


def hpa_bounds(hpa: dict[str, object]) -> tuple[int, int | None]:
    """``(minReplicas, maxReplicas)`` of an HPA (min defaults to 1)."""
    spec = mapping(hpa.get("spec"))
    low = parse_int(spec.get("minReplicas"))
    return (1 if low is None else low, parse_int(spec.get("maxReplicas")))


def plan_hpa(action: AdjustHpaAction, view: WorkloadView, key: str) -> Planned | None:
    """The HPA patch; None when its bounds already are the target."""
    hpa = hpa_for(view.deployment, [h for h in view.hpas if name_of(h) == action.hpa_name])
    if hpa is None:
        raise PreconditionFailed(
            f"HPA {action.hpa_name} no longer exists or no longer targets {view.label}: re-plan"
        )
    return plan_bounds(action, view, key, hpa)


def plan_bounds(
    action: AdjustHpaAction, view: WorkloadView, key: str, hpa: Mapping[str, Any]
) -> Planned | None:
    """The patch of ``hpa``'s bounds (found and checked by the caller); None when there."""
    bounds = hpa_bounds(dict(hpa))
    if bounds == (action.to_min, action.to_max):
        return None
    if bounds != (action.from_min, action.from_max):
        raise PreconditionFailed(
            f"HPA {action.hpa_name} bounds are {bounds[0]}-{bounds[1]}, the plan expected "
            f"{action.from_min}-{action.from_max}: re-plan"
        )
    pre = {"hpa": action.hpa_name, "minReplicas": bounds[0], "maxReplicas": bounds[1]}
    version = str(mapping(hpa.get("metadata")).get("resourceVersion") or "")
    body = metadata_patch(version, receipt_annotations(key, action.kind, pre))
    body["spec"] = {"minReplicas": action.to_min, "maxReplicas": action.to_max}
    write = PlannedWrite(Resource.HPA, view.namespace, action.hpa_name, body)
    return Planned((write,), pre)


def adapter_of(action: Action) -> ScalingAdapter | None:
    """The adapter a scale or bounds change goes through (None: the native path)."""
    if isinstance(action, ScaleAction | AdjustHpaAction):
        return action.adapter
    return None


def plan_adapted(
    action: ScaleAction | AdjustHpaAction, view: WorkloadView, key: str
) -> Planned | None:
    """The writes of an action that names an adapter (the writer's refusals ran first)."""
    if isinstance(action, AdjustHpaAction) and action.adapter is ScalingAdapter.KEDA:
        return plan_keda(action, view, key)
    if isinstance(action, ScaleAction):
        return plan_rollout_scale(action, view, key)
    rollout = rollout_of(view.deployment, view.rollouts)
    named = [h for h in view.hpas if name_of(h) == action.hpa_name]
    hpa = next(iter(autoscalers_of(rollout, named)), None) if rollout is not None else None
    if hpa is None:
        raise PreconditionFailed(
            f"HPA {action.hpa_name} no longer exists or no longer targets the Rollout of "
            f"{view.label}: re-plan"
        )
    return plan_bounds(action, view, key, hpa)


def absorb_adapted(view: WorkloadView, answer: dict[str, Any]) -> WorkloadView:
    """``view`` with a ScaledObject or Rollout a write answered (anything else: unchanged)."""
    kind = answer.get("kind")
    if kind == "ScaledObject":
        others = tuple(s for s in view.scaled_objects if name_of(s) != name_of(answer))
        return replace(view, scaled_objects=(*others, answer))
    if kind == "Rollout":
        rest = tuple(r for r in view.rollouts if name_of(r) != name_of(answer))
        return replace(view, rollouts=(*rest, answer))
    return view


def written_version(view: WorkloadView, write: PlannedWrite) -> str | None:
    """The resourceVersion the object ``write`` changed has in ``view`` (None: the
    Deployment's, which ``view.resource_version`` already is)."""
    found = {
        Resource.HPA: view.hpas,
        Resource.SCALEDOBJECT: view.scaled_objects,
        Resource.ROLLOUT: view.rollouts,
    }.get(write.resource, ())
    for obj in found:
        if name_of(obj) == write.name:
            return str(mapping(obj.get("metadata")).get("resourceVersion") or "")
    return None


def adapted_object(
    calls: KubeCalls, action: ScaleAction | AdjustHpaAction
) -> dict[str, Any] | None:
    """The object an adapter action writes, read live (for receipts and lost answers)."""
    ref = action.target
    if isinstance(action, AdjustHpaAction):
        if action.adapter is ScalingAdapter.KEDA:
            return calls.get_custom(Resource.SCALEDOBJECT, ref.namespace, action.hpa_name)
        return calls.get_hpa(ref.namespace, action.hpa_name)
    deployment = calls.get_deployment(ref.namespace, ref.name)
    if deployment is None:
        return None
    rollouts = calls.list_custom("argoproj.io", "v1alpha1", "rollouts", ref.namespace)
    rollout = rollout_of(deployment, rollouts)
    if rollout is None:
        return None
    return calls.get_custom(Resource.ROLLOUT, ref.namespace, name_of(rollout))
