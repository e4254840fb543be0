"""The KEDA adapter: a workload KEDA scales gets its bounds changed on the ScaledObject.

KEDA owns such a Deployment's replicas through an HPA it generates from the ScaledObject
(``keda-hpa-<name>``) and rewrites on every reconcile, so neither ``spec.replicas`` nor that
HPA may be written (R16). The knobs are the ScaledObject's own ``spec.minReplicaCount`` and
``spec.maxReplicaCount``: an ``AdjustHpaAction`` with ``adapter: keda`` (``hpa_name`` names
the ScaledObject) changes exactly those, the way the other writes change their objects:

- read live (the writer lists the namespace's ScaledObjects just before);
- already there: None, nothing is written;
- the plan's ``from_min``/``from_max`` must still be the live bounds (else re-plan);
- one JSON merge patch (a custom resource has no strategic merge), conditional on the
  ScaledObject's ``metadata.resourceVersion``, carrying the receipt annotations (the
  idempotency key and the pre-state ``scaledObject``/``minReplicaCount``/``maxReplicaCount``
  a revert restores); the writer dry-runs it first.

KEDA's defaults apply when a bound is absent (minReplicaCount 0, maxReplicaCount 100). A
ScaledObject at minReplicaCount 0 scales to zero on purpose; no action may write a 0 and the
plan's ``from_min`` is at least 1, so such an object is refused rather than silently raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.kube.errors import PreconditionFailed, WriteRefused
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
from controller.models.actions import AdjustHpaAction

Obj = Mapping[str, Any]

DEFAULT_MIN_REPLICA_COUNT = 0
DEFAULT_MAX_REPLICA_COUNT = 100
"""KEDA's defaults for an absent ``minReplicaCount``/``maxReplicaCount``."""


def scaled_object_named(deployment: Obj, scaled_objects: Sequence[Obj], name: str) -> Obj | None:
    """The ScaledObject ``name`` when it (still) targets ``deployment``, else None."""
    for scaled in scaled_objects:
        ref = mapping(mapping(scaled.get("spec")).get("scaleTargetRef"))
        if (
            name_of(scaled) == name
            and namespace_of(scaled) == namespace_of(deployment)
            and targets_deployment(ref, deployment)
        ):
            return scaled
    return None


def keda_bounds(scaled: Obj) -> tuple[int, int]:
    """``(minReplicaCount, maxReplicaCount)`` with KEDA's defaults."""
    spec = mapping(scaled.get("spec"))
    low = parse_int(spec.get("minReplicaCount"))
    high = parse_int(spec.get("maxReplicaCount"))
    return (
        DEFAULT_MIN_REPLICA_COUNT if low is None else low,
        DEFAULT_MAX_REPLICA_COUNT if high is None else high,
    )


def plan_keda(action: AdjustHpaAction, view: WorkloadView, key: str) -> Planned | None:
    """The ScaledObject patch; None when its bounds already are the target."""
    scaled = scaled_object_named(view.deployment, view.scaled_objects, action.hpa_name)
    if scaled is None:
        raise PreconditionFailed(
            f"KEDA ScaledObject {action.hpa_name} no longer exists or no longer targets "
            f"{view.label}: re-plan"
        )
    bounds = keda_bounds(scaled)
    if bounds == (action.to_min, action.to_max):
        return None
    if bounds[0] == 0:
        raise WriteRefused(
            f"KEDA ScaledObject {action.hpa_name} of {view.label} has minReplicaCount 0 (scale "
            "to zero, chosen by its owner): its floor is a human's decision; nothing was written"
        )
    if bounds != (action.from_min, action.from_max):
        raise PreconditionFailed(
            f"KEDA ScaledObject {action.hpa_name} bounds are {bounds[0]}-{bounds[1]}, the plan "
            f"expected {action.from_min}-{action.from_max}: re-plan"
        )
    pre = {"scaledObject": action.hpa_name, "minReplicaCount": bounds[0],
           "maxReplicaCount": bounds[1]}  # fmt: skip
    version = str(mapping(scaled.get("metadata")).get("resourceVersion") or "")
    body = metadata_patch(version, receipt_annotations(key, action.kind, pre))
    body["spec"] = {"minReplicaCount": action.to_min, "maxReplicaCount": action.to_max}
    write = PlannedWrite(Resource.SCALEDOBJECT, view.namespace, action.hpa_name, body)
    return Planned((write,), pre)
