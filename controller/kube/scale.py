"""Scale writes: ``spec.replicas`` through the scale subresource, or an HPA's bounds.

A ScaleAction never touches the Deployment object's spec: it patches
``deployments/{name}/scale`` (an ``autoscaling/v1`` Scale; what ``kubectl scale`` and the
HPA controller write), conditional on the Deployment's resourceVersion, then leaves its
receipt on the Deployment's metadata. An AdjustHpaAction patches the HPA's ``minReplicas``
and ``maxReplicas`` (never ``spec.replicas``: the HPA owns it), conditional on the HPA's
own resourceVersion, with its receipt on the HPA.
"""

from __future__ import annotations

from controller.kube.errors import PreconditionFailed
from controller.kube.fields import mapping, name_of, parse_int
from controller.kube.inventory import hpa_for
from controller.kube.writes import (
    Planned,
    PlannedWrite,
    Resource,
    WorkloadView,
    metadata_patch,
    receipt_annotations,
)
from controller.models.actions import AdjustHpaAction, ScaleAction


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
