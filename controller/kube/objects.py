"""Requests on the operator's own objects: the kill-switch ConfigMap and Remediations.

These are not workload writes (``calls.KubeCalls`` is): they carry the controller's own
records and switches. Each request is one logical call through ``resilience.retry_call``
(R9; ``attempts=1`` for the kill switch, which must answer now or count as engaged), with
the client's per-request timeout, the body read as JSON, and every client failure translated
at the boundary (``errors.translated``). 404 on a read is ``None``; 409 (a stale
resourceVersion, or AlreadyExists on a create) is raised as ``ConflictError`` at once, never
retried: the caller re-reads and decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.config.config_exception import ConfigException

from controller.errors import ConfigError
from controller.kube.calls import call_json
from controller.kube.client import Timeouts
from controller.kube.errors import KubeTemporaryError, NotFoundError
from controller.kube.writes import FIELD_MANAGER
from controller.settings import RetrySettings

Obj = dict[str, Any]

ONCE = RetrySettings(attempts=1)
"""No retry: the answer is needed now (the kill switch fails closed instead of waiting)."""
MERGE = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class CustomType:
    """Where a custom resource lives in the API (``aiops.dev/v1alpha1 remediations``)."""

    group: str
    version: str
    plural: str


class ObjectCalls:
    """ConfigMap and custom-object requests with one retry layer and our field manager."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        timeouts: Timeouts,
        retry: RetrySettings = ONCE,
        sleep: Callable[[float], None] = time.sleep,
        field_manager: str = FIELD_MANAGER,
    ) -> None:
        self._core = CoreV1Api(api_client)
        self._custom = CustomObjectsApi(api_client)
        self._timeouts = timeouts
        self._retry = retry
        self._sleep = sleep
        self.field_manager = field_manager

    def _call(self, what: str, send: Callable[..., Any]) -> Obj:
        return call_json(what, send, timeouts=self._timeouts, retry=self._retry, sleep=self._sleep)

    def _read(self, what: str, send: Callable[..., Any]) -> Obj | None:
        try:
            return self._call(what, send)
        except NotFoundError:
            return None

    # ----- ConfigMaps -----

    def get_config_map(self, namespace: str, name: str) -> Obj | None:
        """GET one ConfigMap (None when it does not exist)."""
        return self._read(
            f"get configmap {namespace}/{name}",
            lambda **kw: self._core.read_namespaced_config_map(name, namespace, **kw),
        )

    def create_config_map(self, namespace: str, body: Obj) -> Obj:
        """POST a ConfigMap (``ConflictError`` when it already exists)."""
        name = body["metadata"]["name"]
        typed: Any = body  # the client validates the dict into a V1ConfigMap (pydantic)
        return self._call(
            f"create configmap {namespace}/{name}",
            lambda **kw: self._core.create_namespaced_config_map(
                namespace, typed, field_manager=self.field_manager, **kw
            ),
        )

    def patch_config_map(self, namespace: str, name: str, body: Obj) -> Obj:
        """Merge-patch a ConfigMap (``metadata.resourceVersion`` in ``body``: a precondition)."""
        return self._call(
            f"patch configmap {namespace}/{name}",
            lambda **kw: self._core.patch_namespaced_config_map(
                name, namespace, body, field_manager=self.field_manager,
                _content_type=MERGE, **kw,
            ),
        )  # fmt: skip

    # ----- custom objects -----

    def get_custom(self, kind: CustomType, namespace: str, name: str) -> Obj | None:
        """GET one custom object (None when it, or its CRD, does not exist)."""
        return self._read(
            f"get {kind.plural} {namespace}/{name}",
            lambda **kw: self._custom.get_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, name, **kw
            ),
        )

    def create_custom(self, kind: CustomType, namespace: str, body: Obj) -> Obj:
        """POST a custom object (``ConflictError`` when the name is taken)."""
        name = body["metadata"]["name"]
        return self._call(
            f"create {kind.plural} {namespace}/{name}",
            lambda **kw: self._custom.create_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, body,
                field_manager=self.field_manager, **kw,
            ),
        )  # fmt: skip

    def patch_custom(
        self, kind: CustomType, namespace: str, name: str, body: Obj, *, status: bool = False
    ) -> Obj:
        """Merge-patch a custom object, or its ``/status`` subresource."""
        method = (
            self._custom.patch_namespaced_custom_object_status
            if status
            else self._custom.patch_namespaced_custom_object
        )
        where = f"{kind.plural} {namespace}/{name}{'/status' if status else ''}"
        return self._call(
            f"patch {where}",
            lambda **kw: method(
                kind.group, kind.version, namespace, kind.plural, name, body,
                field_manager=self.field_manager, _content_type=MERGE, **kw,
            ),
        )  # fmt: skip

    def list_custom(
        self, kind: CustomType, namespace: str | None, *, label_selector: str = ""
    ) -> list[Obj]:
        """Every custom object of one namespace (None: all namespaces), 250 per page."""
        found: list[Obj] = []
        token: str | None = None
        for page in range(40):
            if namespace is None:
                send: Callable[..., Any] = lambda t=token, **kw: (  # noqa: E731
                    self._custom.list_cluster_custom_object(
                        kind.group, kind.version, kind.plural, limit=250, _continue=t,
                        label_selector=label_selector or None, **kw,
                    )
                )  # fmt: skip
            else:
                send = lambda t=token, **kw: self._custom.list_namespaced_custom_object(  # noqa: E731
                    kind.group, kind.version, namespace, kind.plural, limit=250, _continue=t,
                    label_selector=label_selector or None, **kw,
                )  # fmt: skip
            body = self._call(f"list {kind.plural} {namespace or '(all)'} page {page + 1}", send)
            found.extend(i for i in body.get("items") or [] if isinstance(i, dict))
            token = (body.get("metadata") or {}).get("continue") or None
            if token is None:
                return found
        raise KubeTemporaryError(f"list {kind.plural}: more than 40 pages; refusing to guess")


def kubeconfig_identity(kubeconfig: str | None, context: str | None) -> tuple[str, str]:
    """The user and namespace of the kubeconfig context in use: who ``aiops approve`` and
    ``aiops freeze`` say answered, and where a name without ``-n`` is looked up (``default``
    when the context names none). The user is self-declared (a kubeconfig names it); RBAC on
    the objects decides who may write at all.

    Raises:
        ConfigError: the kubeconfig cannot be read, or names no such context or no user.
    """
    source = kubeconfig or "default kubeconfig"
    try:
        contexts, active = kube_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig
        )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ConfigError(source, "", f"cannot load kubeconfig: {exc}") from exc
    chosen = (
        active
        if context is None
        else next((c for c in contexts or [] if c.get("name") == context), None)
    )
    where = f"context {context}" if context else "current context"
    if chosen is None:
        raise ConfigError(source, where, "no such context")
    details = chosen.get("context") or {}
    user = details.get("user")
    if not isinstance(user, str) or not user:
        raise ConfigError(source, where, "names no user: cannot tell who is answering")
    return user, str(details.get("namespace") or "default")
