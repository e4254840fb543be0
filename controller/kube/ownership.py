"""Who else controls a workload, and which writes that rules out (R16): pure functions.

A write another controller undoes is worse than none: it moves the system, then moves it
back, and the verification judges noise. So before writing, the writer asks:

- **Argo Rollouts** (a Rollout whose ``workloadRef`` names the Deployment, or a
  ``rollouts.argoproj.io/*`` annotation): its rollouts and scaling go through the Rollout.
  A rollback, restart or pause of the Deployment is always refused. A ``scale`` or
  ``adjust_hpa`` with ``adapter: argo-rollouts`` is written through the Rollout
  (``controller.kube.argo_rollouts``) when the writer was built with that adapter allowed
  (the policy's ``spec.scaling.adapters``), a Rollout object exists, and for a scale no HPA
  or ScaledObject targets the Rollout; everything else is refused.
- **KEDA** (a ScaledObject whose ``scaleTargetRef`` names it): KEDA drives the replica
  count through an HPA it owns; a scale or an edit of that HPA is refused. An
  ``adjust_hpa`` with ``adapter: keda`` naming that ScaledObject changes its
  ``minReplicaCount``/``maxReplicaCount`` (``controller.kube.keda``) when the adapter is
  allowed; otherwise it is refused too.
- **Adapters named wrongly**: an action whose ``adapter`` does not match who owns the
  workload (KEDA named, no ScaledObject; Argo named, no Rollout) is refused: the plan was
  made for another owner.
- **HPA**: it owns ``spec.replicas``; a ScaleAction is refused (policy must propose
  AdjustHpaAction, which changes the HPA's bounds instead).
- **GitOps** (Argo CD or Flux labels and annotations, or a GitOps field manager in
  ``managedFields``) on the object the write would change: refused by default, since the
  next sync would undo the change; the fix belongs in Git.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from controller.kube.argo_rollouts import autoscalers_of, rollout_of
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
from controller.kube.keda import scaled_object_named
from controller.models.actions import Action, AdjustHpaAction, ScaleAction, ScalingAdapter

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
    adapters: Collection[ScalingAdapter] = (),
) -> str | None:
    """Why the writer must not apply ``action`` to ``deployment``, or None when it may.

    ``adapters``: the scaling adapters the policy names (``spec.scaling.adapters``); an
    action through an adapter that is not among them is refused, whoever owns the workload.
    """
    target = f"{namespace_of(deployment)}/{name_of(deployment)}"
    adapter = action.adapter if isinstance(action, ScaleAction | AdjustHpaAction) else None
    if adapter is not None and adapter not in adapters:
        return (
            f"{action.kind} of {target} through the {adapter.value} adapter: the policy does "
            f"not name {adapter.value} in spec.scaling.adapters; nothing was written"
        )
    argo = argo_rollout_of(deployment, rollouts)
    if adapter is ScalingAdapter.ARGO_ROLLOUTS:
        return _argo_refusal(action, deployment, target, argo, hpas, scaled_objects,
                             rollouts, allow_gitops)  # fmt: skip
    if argo is not None:
        way = f"a {action.kind} of the Deployment would fight it"
        if isinstance(action, ScaleAction | AdjustHpaAction):
            way = (
                "propose this with adapter argo-rollouts (allowed by spec.scaling.adapters) "
                "to change the Rollout instead"
            )
        return (
            f"Argo Rollouts manages {target} ({argo}): rollouts and scaling go through the "
            f"Rollout; {way}; nothing was written"
        )
    keda = keda_scaler_of(deployment, scaled_objects)
    if adapter is ScalingAdapter.KEDA:
        return _keda_refusal(action, deployment, target, keda, scaled_objects, allow_gitops)
    if isinstance(action, AdjustHpaAction):
        return _hpa_refusal(action, target, keda, hpas, allow_gitops=allow_gitops)
    if isinstance(action, ScaleAction):
        if keda is not None:
            return (
                f"KEDA ScaledObject {keda} scales {target}: its minReplicaCount/maxReplicaCount "
                "are the knobs; propose adjust_hpa with adapter keda (allowed by "
                "spec.scaling.adapters) instead; nothing was written"
            )
        hpa = hpa_for(deployment, hpas)
        if hpa is not None:
            return (
                f"HPA {name_of(hpa)} owns spec.replicas of {target}: it would undo a scale; "
                "policy must propose adjust_hpa (the HPA's minReplicas/maxReplicas) instead"
            )
    return _gitops_refusal(deployment, target, allow_gitops)


def _keda_refusal(
    action: Action,
    deployment: Obj,
    target: str,
    keda: str | None,
    scaled_objects: Sequence[Obj],
    allow_gitops: bool,
) -> str | None:
    """An allowed KEDA adapter action: the ScaledObject it names must scale ``target``."""
    assert isinstance(action, AdjustHpaAction)  # a KEDA ScaleAction fails validation
    if keda is None:
        return (
            f"no KEDA ScaledObject scales {target}, but the plan goes through the keda "
            "adapter: it was made for another owner; nothing was written"
        )
    scaled = scaled_object_named(deployment, scaled_objects, action.hpa_name)
    if scaled is None:
        return (
            f"KEDA ScaledObject {keda} scales {target}, not {action.hpa_name} as the plan "
            "names; nothing was written"
        )
    return _gitops_refusal(scaled, f"KEDA ScaledObject {action.hpa_name} of {target}", allow_gitops)


def _argo_refusal(
    action: Action,
    deployment: Obj,
    target: str,
    argo: str | None,
    hpas: Sequence[Obj],
    scaled_objects: Sequence[Obj],
    rollouts: Sequence[Obj],
    allow_gitops: bool,
) -> str | None:
    """An allowed Argo Rollouts adapter action: the Rollout must exist and be writable."""
    rollout = rollout_of(deployment, rollouts)
    if rollout is None:
        owner = f" (only {argo})" if argo is not None else ""
        return (
            f"no Argo Rollout with a workloadRef manages {target}{owner}, but the plan goes "
            "through the argo-rollouts adapter: there is no Rollout to change; nothing was "
            "written"
        )
    what = f"Rollout {name_of(rollout)} of {target}"
    if isinstance(action, ScaleAction):
        owners = autoscalers_of(rollout, [*hpas, *scaled_objects])
        if owners:
            kind, name = str(owners[0].get("kind") or "autoscaler"), name_of(owners[0])
            return (
                f"{kind} {name} owns spec.replicas of {what}: it would undo a scale; propose "
                "adjust_hpa with adapter argo-rollouts (its bounds) instead; nothing was written"
            )
        return _gitops_refusal(rollout, what, allow_gitops)
    assert isinstance(action, AdjustHpaAction)
    named = [h for h in hpas if name_of(h) == action.hpa_name]
    if any(_is_kedas(h) for h in named):
        return (
            f"HPA {action.hpa_name} of {what} belongs to KEDA: KEDA rewrites its bounds from "
            "the ScaledObject; nothing was written"
        )
    hpa = next(iter(autoscalers_of(rollout, named)), None)
    if hpa is None:
        return None  # absent or retargeted: a precondition the writer reports as a conflict
    return _gitops_refusal(hpa, f"HPA {action.hpa_name} of {what}", allow_gitops)


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
