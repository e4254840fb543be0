"""Who else controls a workload, and which writes that rules out (R16): pure functions.

A write another controller undoes is worse than none: it moves the system, then moves it
back, and the verification judges noise. So before writing, the writer asks:

- **Argo Rollouts** (a Rollout whose ``workloadRef`` names the Deployment, or a
  ``rollouts.argoproj.io/*`` annotation): its rollouts and scaling go through the Rollout.
  No adapter exists yet: every write is refused.
- **KEDA** (a ScaledObject whose ``scaleTargetRef`` names it): KEDA drives the replica
  count through an HPA it owns; a scale or an edit of that HPA is refused (the ScaledObject's
  ``minReplicaCount``/``maxReplicaCount`` are the knobs; no adapter yet).
- **HPA**: it owns ``spec.replicas``; a ScaleAction is refused (policy must propose
  AdjustHpaAction, which changes the HPA's bounds instead).
- **GitOps** (Argo CD or Flux labels and annotations, or a GitOps field manager in
  ``managedFields``) on the object the write would change: refused by default, since the
  next sync would undo the change; the fix belongs in Git.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.kube.fields import (
    items,
    labels_of,
    meta,
    name_of,
    namespace_of,
)
from controller.kube.inventory import (
    argo_rollout_of,
    gitops_owner,
    hpa_for,
    keda_scaler_of,
)
from controller.models.actions import Action, AdjustHpaAction, ScaleAction

Obj = Mapping[str, Any]

KEDA_HPA_LABEL = "scaledobject.keda.sh/name"


def _is_kedas(hpa: Obj) -> bool:
    if KEDA_HPA_LABEL in labels_of(hpa):
        return True
    return any(ref.get("kind") == "ScaledObject" for ref in items(meta(hpa).get("ownerReferences")))


def refusal(
    action: Action,
    deployment: Obj,
    *,
    hpas: Sequence[Obj],
    scaled_objects: Sequence[Obj],
    rollouts: Sequence[Obj],
    allow_gitops: bool = False,
) -> str | None:
    """Why the writer must not apply ``action`` to ``deployment``, or None when it may."""
    target = f"{namespace_of(deployment)}/{name_of(deployment)}"
    argo = argo_rollout_of(deployment, rollouts)
    if argo is not None:
        return (
            f"Argo Rollouts manages {target} ({argo}): rollouts and scaling go through the "
            "Rollout, and no Argo Rollouts adapter exists yet; nothing was written"
        )
    keda = keda_scaler_of(deployment, scaled_objects)
    if isinstance(action, AdjustHpaAction):
        return _hpa_refusal(action, target, keda, hpas, allow_gitops=allow_gitops)
    if isinstance(action, ScaleAction):
        if keda is not None:
            return (
                f"KEDA ScaledObject {keda} scales {target}: its minReplicaCount/maxReplicaCount "
                "are the knobs, and no KEDA adapter exists yet; nothing was written"
            )
        hpa = hpa_for(deployment, hpas)
        if hpa is not None:
            return (
                f"HPA {name_of(hpa)} owns spec.replicas of {target}: it would undo a scale; "
                "policy must propose adjust_hpa (the HPA's minReplicas/maxReplicas) instead"
            )
    return _gitops_refusal(deployment, target, allow_gitops)


def _hpa_refusal(
    action: AdjustHpaAction,
    target: str,
    keda: str | None,
    hpas: Sequence[Obj],
    *,
    allow_gitops: bool,
) -> str | None:
    hpa = next((h for h in hpas if name_of(h) == action.hpa_name), None)
    if keda is not None or (hpa is not None and _is_kedas(hpa)):
        return (
            f"HPA {action.hpa_name} of {target} belongs to KEDA (ScaledObject {keda or 'unknown'}):"
            " KEDA rewrites its bounds from the ScaledObject; nothing was written"
        )
    if hpa is None:
        return None  # absent or retargeted: a precondition the writer reports as a conflict
    return _gitops_refusal(hpa, f"HPA {action.hpa_name} of {target}", allow_gitops)


def _gitops_refusal(obj: Obj, what: str, allow_gitops: bool) -> str | None:
    owner = gitops_owner(obj)
    if owner is None or allow_gitops:
        return None
    return (
        f"{what} is managed by {owner}: the next sync would undo the change; "
        "change it in Git instead (nothing was written)"
    )
