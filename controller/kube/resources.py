"""The resource kinds the cache watches, and the client functions that list and watch them.

Each kind is listed and watched per *scope*: one namespace of ``KubeSettings.namespaces``,
or the whole cluster when that tuple is empty. Namespaces themselves are cluster-scoped;
with a namespace allow-list each one is watched by name (``fieldSelector=metadata.name=``),
which RBAC can grant with ``resourceNames`` instead of cluster-wide list access.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubernetes.client import (
    ApiClient,
    AppsV1Api,
    AutoscalingV2Api,
    CoreV1Api,
    CustomObjectsApi,
)


class Kind(StrEnum):
    """A watched resource, named by its plural as in API paths and RBAC rules."""

    DEPLOYMENTS = "deployments"
    REPLICASETS = "replicasets"
    PODS = "pods"
    HPAS = "horizontalpodautoscalers"
    EVENTS = "events"
    NAMESPACES = "namespaces"
    SCALEDOBJECTS = "scaledobjects"
    ROLLOUTS = "rollouts"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How to reach one kind. ``optional`` kinds are CRDs: a 404 on list means "not
    installed", which is a valid, synced, empty state (re-checked at every resync)."""

    kind: Kind
    group: str
    version: str
    namespaced: bool = True
    optional: bool = False

    @property
    def api_version(self) -> str:
        """``apps/v1``-style group/version (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version


SPECS: tuple[KindSpec, ...] = (
    KindSpec(Kind.DEPLOYMENTS, "apps", "v1"),
    KindSpec(Kind.REPLICASETS, "apps", "v1"),
    KindSpec(Kind.PODS, "", "v1"),
    KindSpec(Kind.HPAS, "autoscaling", "v2"),
    KindSpec(Kind.EVENTS, "", "v1"),
    KindSpec(Kind.NAMESPACES, "", "v1", namespaced=False),
    KindSpec(Kind.SCALEDOBJECTS, "keda.sh", "v1alpha1", optional=True),
    KindSpec(Kind.ROLLOUTS, "argoproj.io", "v1alpha1", optional=True),
)
"""Every kind the cache watches, in start order."""

ListFunction = Callable[..., Any]
"""A client list function with its scope bound; ``watch=True`` turns it into a watch."""

_NAMESPACED = {
    Kind.DEPLOYMENTS: ("apps", "list_namespaced_deployment", "list_deployment_for_all_namespaces"),
    Kind.REPLICASETS: (
        "apps",
        "list_namespaced_replica_set",
        "list_replica_set_for_all_namespaces",
    ),
    Kind.PODS: ("core", "list_namespaced_pod", "list_pod_for_all_namespaces"),
    Kind.EVENTS: ("core", "list_namespaced_event", "list_event_for_all_namespaces"),
    Kind.HPAS: (
        "autoscaling",
        "list_namespaced_horizontal_pod_autoscaler",
        "list_horizontal_pod_autoscaler_for_all_namespaces",
    ),
}


def list_function(api_client: ApiClient, spec: KindSpec, namespace: str | None) -> ListFunction:
    """The list-or-watch function of ``spec`` in one namespace (None: the whole cluster)."""
    if spec.optional:
        custom = CustomObjectsApi(api_client)
        if namespace is None:
            return functools.partial(
                custom.list_cluster_custom_object, spec.group, spec.version, spec.kind.value
            )
        return functools.partial(
            custom.list_namespaced_custom_object,
            spec.group,
            spec.version,
            namespace,
            spec.kind.value,
        )
    if spec.kind is Kind.NAMESPACES:
        core = CoreV1Api(api_client)
        if namespace is None:
            return core.list_namespace
        return functools.partial(core.list_namespace, field_selector=f"metadata.name={namespace}")
    group, namespaced, everywhere = _NAMESPACED[spec.kind]
    apis: dict[str, Any] = {
        "apps": AppsV1Api,
        "core": CoreV1Api,
        "autoscaling": AutoscalingV2Api,
    }
    api = apis[group](api_client)
    if namespace is None:
        return getattr(api, everywhere)  # type: ignore[no-any-return]
    return functools.partial(getattr(api, namespaced), namespace)


def object_key(obj: dict[str, Any]) -> tuple[str, str]:
    """``(namespace, name)`` of an API object ("" for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def trimmed(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as cached: without ``metadata.managedFields`` except on Deployments.

    Field ownership is large and only matters where the controller might write: on a
    Deployment it tells who owns ``spec.replicas`` (R16). Pods, ReplicaSets and Events,
    the bulk of the cache, do without it.
    """
    meta = obj.get("metadata")
    if kind is Kind.DEPLOYMENTS or not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    slim_meta = {k: v for k, v in meta.items() if k != "managedFields"}
    return {**obj, "metadata": slim_meta}
