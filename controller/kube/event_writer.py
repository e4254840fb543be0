"""``KubeEventSink``: Kubernetes Events about the operator and its targets (core/v1 Events).

The operator tells humans what it does where they already look (``kubectl describe``,
``kubectl get events``): its start and mode, bad config edits, approval requests. An Event is
best effort: a failure (RBAC, a struggling API server) is logged and returned as False, never
raised, because an Event that could not be written must not stop the loop or a shutdown.

Events are created with a client-go style name (``<object>.<hex nanoseconds>``), the
``Normal``/``Warning`` type, a ``source.component`` and the reporting fields, so they read
like any controller's. RBAC: ``create`` on ``events`` in the namespaces written to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from kubernetes.client import ApiClient, CoreV1Api

from controller.errors import AiopsError
from controller.kube.client import Timeouts
from controller.kube.errors import translated
from controller.settings import KubeSettings

log = structlog.get_logger("aiops.kube.events")
COMPONENT = "aiops-controller"
MESSAGE_LIMIT = 1024
"""Characters of an Event message (the API server caps at 1 KiB for ``events.k8s.io``)."""


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_body(
    *,
    namespace: str,
    kind: str,
    name: str,
    reason: str,
    message: str,
    warning: bool,
    instance: str,
    now: datetime,
    nanos: int,
    api_version: str = "v1",
) -> dict[str, Any]:
    """The core/v1 Event for ``kind/name`` in ``namespace`` (pure: tested without a server)."""
    stamp = _rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{nanos:x}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "namespace": namespace,
        },
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT, "host": instance},
        "reportingComponent": f"aiops.dev/{COMPONENT}",
        "reportingInstance": instance,
        "action": reason,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class KubeEventSink:
    """Creates Events through the shared client; the default object is the operator itself
    (its Pod when the downward API names it, else its namespace)."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        settings: KubeSettings,
        namespace: str,
        instance: str,
        pod: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_result: Callable[[bool], None] = lambda _ok: None,
    ) -> None:
        self._core = CoreV1Api(api_client)
        self._timeouts = Timeouts.from_settings(settings)
        self.namespace = namespace
        self.instance = instance
        self._default = ("Pod", pod) if pod else ("Namespace", namespace)
        self._clock = clock
        self._on_result = on_result

    def emit(
        self,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Create one Event (about ``kind/name`` in ``namespace``, else the operator)."""
        if kind is None or name is None:
            kind, name = self._default
        where = namespace or self.namespace
        api_version = "apps/v1" if kind == "Deployment" else "v1"
        body = event_body(
            namespace=where, kind=kind, name=name, reason=reason, message=message,
            warning=warning, instance=self.instance, now=self._clock(),
            nanos=time.time_ns(), api_version=api_version,
        )  # fmt: skip
        try:
            with translated(f"create event {where}/{reason}"):
                # A plain dict body: the client serializes it as is (its strict models would
                # refuse nothing here, but they would add nulls for every unset field).
                response: Any = self._core.create_namespaced_event(
                    where,
                    cast(Any, body),
                    _preload_content=False,
                    _request_timeout=self._timeouts.request(),
                )
                response.release_conn()
        except AiopsError as exc:
            log.warning("kube event not written", reason=reason, namespace=where, error=str(exc))
            self._on_result(False)
            return False
        log.info("kube event written", reason=reason, namespace=where, kind=kind, name=name)
        self._on_result(True)
        return True
