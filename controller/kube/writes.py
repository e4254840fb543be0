"""What the writer sends: planned writes, their bodies, and the record each action leaves.

Every body is a patch that carries ``metadata.resourceVersion`` (the API server answers 409
when the object moved since it was read) and, on the object it changes, two annotations:

- ``aiops.dev/last-action``: the idempotency key of the step (R17): a re-run after a crash
  can see that the write landed;
- ``aiops.dev/pre-state``: what a revert needs, as compact JSON (replicas, HPA bounds,
  revision, paused flag), next to the same key.

A scale goes through the ``scale`` subresource, which cannot carry annotations: its receipt
follows as a second, metadata-only patch on the Deployment, conditional on the version the
scale produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

FIELD_MANAGER = "aiops-controller"
"""The ``fieldManager`` of every write: ``managedFields`` show what the controller owns."""

LAST_ACTION_ANNOTATION = "aiops.dev/last-action"
PRE_STATE_ANNOTATION = "aiops.dev/pre-state"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
RESTART_TOKEN_ANNOTATION = "aiops.dev/restart-token"
"""Pod-template annotation a restart writes (its idempotency key): ``restart_token``."""

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

Obj = dict[str, Any]


class Resource(StrEnum):
    """Where a planned write goes."""

    DEPLOYMENT = "deployments"
    SCALE = "deployments/scale"
    HPA = "horizontalpodautoscalers"
    SCALEDOBJECT = "scaledobjects"
    """A KEDA ScaledObject (``keda.sh/v1alpha1``): custom resource, JSON merge patch only."""
    ROLLOUT = "rollouts"
    """An Argo Rollout (``argoproj.io/v1alpha1``): custom resource, JSON merge patch only."""


CUSTOM_RESOURCES: dict[Resource, tuple[str, str, str]] = {
    Resource.SCALEDOBJECT: ("keda.sh", "v1alpha1", "scaledobjects"),
    Resource.ROLLOUT: ("argoproj.io", "v1alpha1", "rollouts"),
}
"""``(group, version, plural)`` of the custom resources the scaling adapters write."""


@dataclass(frozen=True)
class PlannedWrite:
    """One PATCH: its target, body and patch type. ``receipt`` marks the bookkeeping
    patch after a scale (its failure does not undo the effect that already landed)."""

    resource: Resource
    namespace: str
    name: str
    body: Obj
    content_type: str = MERGE_PATCH
    receipt: bool = False

    @property
    def path(self) -> str:
        """``deployments/checkout/scale``-style name for logs and records."""
        if self.resource is Resource.SCALE:
            return f"deployments/{self.name}/scale"
        return f"{self.resource.value}/{self.name}"

    def at_version(self, resource_version: str) -> PlannedWrite:
        """The same write, conditional on ``resource_version`` instead."""
        body = {**self.body, "metadata": {**self.body.get("metadata", {})}}
        body["metadata"]["resourceVersion"] = resource_version
        return PlannedWrite(
            self.resource, self.namespace, self.name, body, self.content_type, self.receipt
        )

    def as_json(self) -> Obj:
        """The write as data (records, logs, the shadow writer's output)."""
        return {"path": self.path, "content_type": self.content_type, "body": self.body}


@dataclass(frozen=True)
class WriteRecord:
    """What one ``apply`` wrote (or, for the shadow writer, would have written)."""

    idempotency_key: str
    action: str
    workload: str
    at: datetime
    pre_state: Obj
    writes: tuple[PlannedWrite, ...]
    applied: bool
    resource_version_before: str
    resource_version_after: str = ""
    notes: tuple[str, ...] = field(default=())

    def as_json(self) -> Obj:
        """The record as plain data (log key-values)."""
        return {
            "idempotency_key": self.idempotency_key,
            "action": self.action,
            "workload": self.workload,
            "at": self.at.isoformat(),
            "pre_state": self.pre_state,
            "writes": [w.as_json() for w in self.writes],
            "applied": self.applied,
            "resource_version_before": self.resource_version_before,
            "resource_version_after": self.resource_version_after,
            "notes": list(self.notes),
        }


def receipt_annotations(key: str, action: str, pre_state: Obj) -> dict[str, str]:
    """The two annotations every write leaves on the object it changes."""
    state = json.dumps({"key": key, "action": action, **pre_state}, sort_keys=True,
                       separators=(",", ":"))  # fmt: skip
    return {LAST_ACTION_ANNOTATION: key, PRE_STATE_ANNOTATION: state}


def pre_state_of(obj: Obj) -> Obj | None:
    """The pre-state an earlier write recorded on ``obj``, or None (unreadable: None)."""
    notes = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        found = json.loads(notes.get(PRE_STATE_ANNOTATION) or "null")
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def metadata_patch(resource_version: str, annotations: dict[str, str] | None = None) -> Obj:
    """``{"metadata": {"resourceVersion": ..., "annotations": ...}}``."""
    metadata: Obj = {"resourceVersion": resource_version}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"metadata": metadata}


def rfc3339(when: datetime) -> str:
    """``2026-03-10T12:00:00Z`` (what ``kubectl rollout restart`` writes)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WorkloadView:
    """The objects one write decision is made on, all read live just before writing."""

    deployment: Obj
    replicasets: tuple[Obj, ...] = ()
    hpas: tuple[Obj, ...] = ()
    scaled_objects: tuple[Obj, ...] = ()
    rollouts: tuple[Obj, ...] = ()

    @property
    def namespace(self) -> str:
        """The Deployment's namespace."""
        return str((self.deployment.get("metadata") or {}).get("namespace") or "")

    @property
    def name(self) -> str:
        """The Deployment's name."""
        return str((self.deployment.get("metadata") or {}).get("name") or "")

    @property
    def resource_version(self) -> str:
        """The Deployment's resourceVersion as read."""
        return str((self.deployment.get("metadata") or {}).get("resourceVersion") or "")

    @property
    def label(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Planned:
    """The writes one action needs, with the pre-state a revert would restore."""

    writes: tuple[PlannedWrite, ...]
    pre_state: Obj
