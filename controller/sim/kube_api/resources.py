"""The resource types the fake serves and how a request path names one of them.

Paths follow the Kubernetes API layout (``/api/v1/...`` for the core group,
``/apis/{group}/{version}/...`` for the others)::

    /apis/apps/v1/namespaces/shop/deployments                 a collection
    /apis/apps/v1/namespaces/shop/deployments/checkout        one object
    /apis/apps/v1/namespaces/shop/deployments/checkout/scale  a subresource
    /api/v1/namespaces                                        a cluster-scoped collection
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceType:
    """One served resource: its group/version, plural, kind, scope and subresources.

    ``strategic`` says whether the API server accepts a strategic merge patch for it: the
    built-in types do, custom resources (CRDs) answer 415 Unsupported Media Type.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    subresources: frozenset[str] = frozenset()
    strategic: bool = True

    @property
    def api_version(self) -> str:
        """``apps/v1`` or ``v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` (``pods`` for the core group), as error messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps`` (``Pod`` for the core group), as 422 messages name it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


RESOURCES: dict[str, ResourceType] = {
    r.plural: r
    for r in (
        ResourceType(
            "apps", "v1", "deployments", "Deployment", subresources=frozenset({"scale", "status"})
        ),
        ResourceType("apps", "v1", "replicasets", "ReplicaSet", subresources=frozenset({"scale"})),
        ResourceType("", "v1", "pods", "Pod"),
        ResourceType("", "v1", "events", "Event"),
        ResourceType("", "v1", "namespaces", "Namespace", namespaced=False),
        ResourceType("", "v1", "configmaps", "ConfigMap"),
        ResourceType(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            subresources=frozenset({"status"}),
        ),
        ResourceType("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject", strategic=False),
        ResourceType("argoproj.io", "v1alpha1", "rollouts", "Rollout", strategic=False),
        ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    )
}
"""Every resource the fake knows, by plural (``crds.register`` adds custom resources)."""

CORE_PLURALS = frozenset(
    {"deployments", "replicasets", "pods", "events", "namespaces", "horizontalpodautoscalers"}
)
"""What a cluster without CRDs serves (the default of ``FakeKubeApi``)."""

Key = tuple[str, str | None, str]
"""How the store names one object: ``(plural, namespace or None, name)``."""


@dataclass(frozen=True)
class Route:
    """What a request path addresses: a collection, one object, or one's subresource."""

    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None = None

    @property
    def key(self) -> Key:
        """The store key of the named object (only meaningful when ``name`` is set)."""
        namespace = self.namespace if self.resource.namespaced else None
        return (self.resource.plural, namespace, self.name or "")


def parse_route(path: str, served: set[str] | frozenset[str]) -> Route | None:
    """The route of ``path``, or None when the fake serves nothing there (a 404)."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in RESOURCES or rest[0] not in served or len(rest) > 3:
        return None
    resource = RESOURCES[rest[0]]
    if (resource.group, resource.version) != (group, version):
        return None
    if resource.namespaced is False and namespace is not None:
        return None
    subresource = rest[2] if len(rest) == 3 else None
    if subresource is not None and subresource not in resource.subresources:
        return None
    return Route(resource, namespace, rest[1] if len(rest) > 1 else None, subresource)
