"""The writer's requests: live reads, paginated lists and patches, through one retry layer.

Each request is one logical call of ``resilience.retry_call`` (R9): bounded attempts, full
jitter, never shorter than the server's ``Retry-After`` (429/503 arrive as
``KubeRetryAfterError``), and a Retry-After above the cap fails at once. The client's own
retries are off (``client.build_configuration``), and every request takes a token of the
client's QPS limiter (``RateLimitedApiClient``), so retries cannot exceed the rate either.

A 409 is never retried here: a conditional write that lost must be re-read and re-decided
by the caller (STYLE rule 5), so conflicts leave the retry layer at once. Lists page with
``limit``/``continue``; a continue token that expired (410) restarts the list once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient, AppsV1Api, AutoscalingV2Api, CustomObjectsApi

from controller.kube.client import Timeouts
from controller.kube.errors import (
    ConflictError,
    GoneError,
    KubeTemporaryError,
    NotFoundError,
    translated,
)
from controller.kube.writes import CUSTOM_RESOURCES, FIELD_MANAGER, PlannedWrite, Resource
from controller.resilience import retry_call
from controller.settings import RetrySettings

Obj = dict[str, Any]

DEFAULT_RETRY = RetrySettings(attempts=4)
"""Writer retries by default: 4 tries, 0.5-10 s jittered, a Retry-After up to 30 s."""


@dataclass(frozen=True)
class _Outcome:
    body: Obj | None = None
    conflict: ConflictError | None = None


def call_json(
    what: str,
    send: Callable[..., Any],
    *,
    timeouts: Timeouts,
    retry: RetrySettings,
    sleep: Callable[[float], None],
) -> Obj:
    """One logical request: ``send`` through the one retry layer, its JSON object answer.

    ``what`` names the request in errors. A 409 (``ConflictError``) is never retried here:
    the caller re-reads and decides again. Shared by the writer's and the operator's
    object requests (``kube.objects``), so both have the same retries and translation.
    """

    def attempt() -> _Outcome:
        try:
            with translated(what):
                response = send(_preload_content=False, _request_timeout=timeouts.request())
                try:
                    body = json.loads(response.data)
                finally:
                    response.release_conn()
        except ConflictError as exc:  # re-read and re-decide first: never retried here
            return _Outcome(conflict=exc)
        if not isinstance(body, dict):
            raise KubeTemporaryError(f"{what}: the response is not a JSON object")
        return _Outcome(body=body)

    outcome = retry_call(attempt, settings=retry, name=what, sleep=sleep)
    if outcome.conflict is not None:
        raise outcome.conflict
    assert outcome.body is not None  # an _Outcome holds one or the other
    return outcome.body


class KubeCalls:
    """The API requests of the writer (``field_manager`` names every write)."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        timeouts: Timeouts,
        retry: RetrySettings = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        field_manager: str = FIELD_MANAGER,
        page_size: int = 250,
        max_pages: int = 40,
    ) -> None:
        self._apps = AppsV1Api(api_client)
        self._autoscaling = AutoscalingV2Api(api_client)
        self._custom = CustomObjectsApi(api_client)
        self._timeouts = timeouts
        self._retry = retry
        self._sleep = sleep
        self.field_manager = field_manager
        self._page_size = max(1, page_size)
        self._max_pages = max(1, max_pages)

    # ----- the one retry layer -----

    def _call(self, what: str, send: Callable[..., Any]) -> Obj:
        return call_json(what, send, timeouts=self._timeouts, retry=self._retry, sleep=self._sleep)

    # ----- reads -----

    def get_deployment(self, namespace: str, name: str) -> Obj | None:
        """GET one Deployment (None when it does not exist)."""
        try:
            return self._call(
                f"get deployment {namespace}/{name}",
                lambda **kw: self._apps.read_namespaced_deployment(name, namespace, **kw),
            )
        except NotFoundError:
            return None

    def get_hpa(self, namespace: str, name: str) -> Obj | None:
        """GET one autoscaling/v2 HPA (None when it does not exist)."""
        try:
            return self._call(
                f"get horizontalpodautoscaler {namespace}/{name}",
                lambda **kw: self._autoscaling.read_namespaced_horizontal_pod_autoscaler(
                    name, namespace, **kw
                ),
            )
        except NotFoundError:
            return None

    def list_replicasets(self, namespace: str, selector: str) -> list[Obj]:
        """ReplicaSets of ``namespace`` matching a label selector, every page."""
        return self._list(
            f"list replicasets {namespace} {selector}",
            lambda **kw: self._apps.list_namespaced_replica_set(
                namespace, label_selector=selector or None, **kw
            ),
        )

    def list_hpas(self, namespace: str) -> list[Obj]:
        """The HPAs of ``namespace``, every page."""
        return self._list(
            f"list horizontalpodautoscalers {namespace}",
            lambda **kw: self._autoscaling.list_namespaced_horizontal_pod_autoscaler(
                namespace, **kw
            ),
        )

    def list_custom(self, group: str, version: str, plural: str, namespace: str) -> list[Obj]:
        """Custom objects of ``namespace``; ``[]`` when the CRD is not installed (404)."""
        try:
            return self._list(
                f"list {plural}.{group} {namespace}",
                lambda **kw: self._custom.list_namespaced_custom_object(
                    group, version, namespace, plural, **kw
                ),
            )
        except NotFoundError:
            return []

    def get_custom(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        """GET one custom object the adapters write (None when it or its CRD is absent)."""
        group, version, plural = CUSTOM_RESOURCES[resource]
        try:
            return self._call(
                f"get {plural}.{group} {namespace}/{name}",
                lambda **kw: self._custom.get_namespaced_custom_object(
                    group, version, namespace, plural, name, **kw
                ),
            )
        except NotFoundError:
            return None

    def _list(self, what: str, send: Callable[..., Any]) -> list[Obj]:
        try:
            return self._pages(what, send)
        except GoneError:  # the continue token expired mid-way: one fresh, consistent list
            return self._pages(what, send)

    def _pages(self, what: str, send: Callable[..., Any]) -> list[Obj]:
        found: list[Obj] = []
        token: str | None = None
        for page in range(self._max_pages):
            body = self._call(
                f"{what} (page {page + 1})",
                lambda t=token, **kw: send(limit=self._page_size, _continue=t, **kw),
            )
            found.extend(i for i in body.get("items") or [] if isinstance(i, dict))
            token = (body.get("metadata") or {}).get("continue") or None
            if token is None:
                return found
        raise KubeTemporaryError(f"{what}: more than {self._max_pages} pages; refusing to guess")

    # ----- writes -----

    def patch(self, write: PlannedWrite, *, dry_run: bool) -> Obj:
        """Send one planned PATCH (``dryRun=All`` when ``dry_run``), named by our manager."""
        api: dict[Resource, Callable[..., Any]] = {
            Resource.SCALE: self._apps.patch_namespaced_deployment_scale,
            Resource.DEPLOYMENT: self._apps.patch_namespaced_deployment,
            Resource.HPA: self._autoscaling.patch_namespaced_horizontal_pod_autoscaler,
        }
        method = api.get(write.resource) or self._custom_patch(write.resource)
        stage = "dry-run patch" if dry_run else "patch"
        return self._call(
            f"{stage} {write.namespace}/{write.path}",
            lambda **kw: method(
                write.name,
                write.namespace,
                write.body,
                dry_run="All" if dry_run else None,
                field_manager=self.field_manager,
                _content_type=write.content_type,
                **kw,
            ),
        )

    def _custom_patch(self, resource: Resource) -> Callable[..., Any]:
        """``patch(name, namespace, body, **kw)`` for a custom resource (same shape as the
        built-in patch methods, so ``patch`` sends every write the same way)."""
        group, version, plural = CUSTOM_RESOURCES[resource]

        def send(name: str, namespace: str, body: Obj, **kw: Any) -> Any:
            return self._custom.patch_namespaced_custom_object(
                group, version, namespace, plural, name, body, **kw
            )

        return send
