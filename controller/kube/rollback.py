"""Roll a Deployment back the way ``kubectl rollout undo --to-revision=N`` does.

kubectl finds the ReplicaSet carrying ``deployment.kubernetes.io/revision: N``, takes its
pod template without the ``pod-template-hash`` label, and writes it into the Deployment
together with the ReplicaSet's annotations (minus the deployment controller's own); the
deployment controller then rolls it out, renumbering that ReplicaSet to the next revision.
It refuses a paused Deployment, and skips when the template already matches.

Differences on purpose:

- the write is a JSON merge patch computed as the exact difference between the live
  template and the target one (removed keys become ``null``), conditional on the
  Deployment's resourceVersion, where kubectl sends an unconditional JSON patch;
- the diagnosed bad revision is a precondition: when the Deployment is no longer at the
  revision the plan named (another deploy happened), nothing is written and the loop
  re-plans (``PreconditionFailed``);
- a revision that the deployment controller already renumbered is still found through
  ``deployment.kubernetes.io/revision-history``, so a re-run after the rollback landed sees
  "already there" instead of an unknown revision.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from controller.kube.errors import KubePermanentError, PreconditionFailed, WriteRefused
from controller.kube.fields import (
    annotations_of,
    first_image,
    mapping,
    meta,
    parse_int,
    parse_time,
)
from controller.kube.inventory import REVISION_ANNOTATION, owned_replicasets, revision_of
from controller.kube.writes import (
    Planned,
    PlannedWrite,
    Resource,
    WorkloadView,
    metadata_patch,
    receipt_annotations,
)
from controller.models.actions import RollbackAction

Obj = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""Annotations kubectl does not copy from the ReplicaSet to the Deployment."""


def deployment_revision(deployment: Mapping[str, Any]) -> int | None:
    """The Deployment's current revision (its ``deployment.kubernetes.io/revision``)."""
    return parse_int(annotations_of(deployment).get(REVISION_ANNOTATION))


def _revisions(replicaset: Mapping[str, Any]) -> set[int]:
    numbers = {revision_of(replicaset)}
    history = annotations_of(replicaset).get(REVISION_HISTORY_ANNOTATION, "")
    numbers |= {parse_int(part) for part in history.split(",")}
    return {n for n in numbers if n is not None}


def find_revision(view: WorkloadView, revision: int) -> Mapping[str, Any] | None:
    """The Deployment's ReplicaSet that is (or, renumbered, was) ``revision``."""
    owned = owned_replicasets(view.deployment, view.replicasets)
    matching = [rs for rs in owned if revision in _revisions(rs)]
    if not matching:
        return None
    return max(matching, key=lambda rs: (revision_of(rs) or 0, _created(rs)))


def _created(replicaset: Mapping[str, Any]) -> str:
    when = parse_time(meta(replicaset).get("creationTimestamp"))
    return when.isoformat() if when else ""


def template_of(replicaset: Mapping[str, Any]) -> Obj:
    """The ReplicaSet's pod template without the ``pod-template-hash`` label."""
    template: Obj = copy.deepcopy(dict(mapping(mapping(replicaset.get("spec")).get("template"))))
    labels = mapping(template.get("metadata")).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def merge_diff(current: Any, target: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``current`` into ``target`` exactly."""
    if not isinstance(current, dict) or not isinstance(target, dict):
        return copy.deepcopy(target)
    patch: Obj = {}
    for key in current.keys() - target.keys():
        patch[key] = None
    for key, value in target.items():
        if key not in current:
            patch[key] = copy.deepcopy(value)
        elif current[key] != value:
            patch[key] = merge_diff(current[key], value)
    return patch


def _copied_annotations(replicaset: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in annotations_of(replicaset).items() if k not in _NOT_COPIED}


def _checked(
    action: RollbackAction, view: WorkloadView, found: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """The target ReplicaSet, once every precondition of the rollback holds."""
    live = deployment_revision(view.deployment)
    if live != action.from_revision:
        raise PreconditionFailed(
            f"{view.label} is at revision {live}, not the revision {action.from_revision} the "
            "plan diagnosed (another rollout happened): nothing written, re-plan"
        )
    if found is None:
        raise KubePermanentError(
            f"revision {action.to_revision} of {view.label} has no ReplicaSet left "
            "(revisionHistoryLimit pruned it?): cannot roll back",
            status=404,
        )
    image = first_image(mapping(template_of(found).get("spec")))
    if action.to_image is not None and image != action.to_image:
        raise PreconditionFailed(
            f"revision {action.to_revision} of {view.label} runs {image}, the plan expected "
            f"{action.to_image}: re-plan"
        )
    if mapping(view.deployment.get("spec")).get("paused"):
        raise WriteRefused(
            f"{view.label} is paused: resume it before rolling back (kubectl rollout undo "
            "refuses a paused Deployment too)"
        )
    return found


def plan_rollback(action: RollbackAction, view: WorkloadView, key: str) -> Planned | None:
    """The template patch; None when the Deployment already runs the target template."""
    found = find_revision(view, action.to_revision)
    current = dict(mapping(mapping(view.deployment.get("spec")).get("template")))
    if found is not None and template_of(found) == current:
        return None
    found = _checked(action, view, found)
    pre = {
        "revision": action.from_revision,
        "image": first_image(mapping(current.get("spec"))),
    }
    annotations = {**_copied_annotations(found), **receipt_annotations(key, action.kind, pre)}
    body = metadata_patch(view.resource_version, annotations)
    body["spec"] = {"template": merge_diff(current, template_of(found))}
    return Planned((PlannedWrite(Resource.DEPLOYMENT, view.namespace, view.name, body),), pre)
