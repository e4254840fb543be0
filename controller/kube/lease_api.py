"""The Lease itself: its election record, the requests that read and write it, and who we are.

Split from ``lease`` (the elector and its fence) so each stays readable; nothing here
decides anything. Answers are read as raw JSON (``_preload_content=False``), as the writer
reads them, so what the elector compares is what the API server stored.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, CoordinationV1Api

from controller.errors import TemporaryError
from controller.kube.errors import NotFoundError, translated
from controller.kube.fields import mapping
from controller.kube.writes import FIELD_MANAGER

Obj = dict[str, Any]

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The election fields of a Lease as read (its ``spec``, and the version it is at)."""

    holder: str
    duration: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str

    @classmethod
    def of(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        """The record of a Lease object (missing fields: empty, 0)."""
        spec = mapping(lease.get("spec"))
        duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration=duration if isinstance(duration, int) else 0,
            acquire_time=_text(spec.get("acquireTime")),
            renew_time=_text(spec.get("renewTime")),
            transitions=transitions if isinstance(transitions, int) else 0,
            resource_version=str(mapping(lease.get("metadata")).get("resourceVersion") or ""),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""``metav1.MicroTime`` as the API server formats it (``RFC3339Micro``, in UTC)."""


def micro_time(when: datetime) -> str:
    """A ``metav1.MicroTime`` for ``when`` (UTC, six fractional digits), never on a whole
    second: the client validates bodies into its models and sends them through
    ``isoformat()``, which drops a zero fraction that the API server's ``RFC3339Micro``
    parser requires (kubernetes-client/python#2690 met the same gap)."""
    utc = when.astimezone(UTC)
    if utc.microsecond == 0:
        utc = utc.replace(microsecond=1)
    return utc.strftime(MICRO_TIME_FORMAT)


def same_micro_time(text: str | None) -> str | None:
    """A MicroTime read from a Lease, in the form ``micro_time`` writes; None if unreadable."""
    if not text:
        return None
    try:
        return micro_time(datetime.fromisoformat(text))
    except ValueError:
        return None


def utc_now() -> datetime:
    return datetime.now(UTC)


def resolve_identity(
    configured: str | None,
    environ: Mapping[str, str] = os.environ,
    hostname: Callable[[], str] = socket.gethostname,
) -> str:
    """The candidate's name: configured, else ``POD_NAME`` (downward API), else the hostname."""
    return checked_identity(configured or environ.get("POD_NAME") or hostname())


def checked_identity(identity: str) -> str:
    """``identity`` when it can stand in a token (non-empty, no ``/``, no outer spaces)."""
    if not identity or "/" in identity or identity != identity.strip():
        raise ValueError(f"leader identity {identity!r}: must be non-empty, without '/'")
    return identity


def resolve_namespace(
    configured: str | None,
    environ: Mapping[str, str] = os.environ,
    namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE,
) -> str:
    """The Lease's namespace: configured, else ``POD_NAMESPACE``, else the pod's service
    account namespace, else ``default``."""
    if configured:
        return configured
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return namespace_file.read_text(encoding="utf-8").strip() or "default"
    except OSError:
        return "default"


class LeaseApi:
    """GET, POST and PUT of one Lease through the official client; one attempt each.

    No retry layer on purpose: the elector's next step is the retry, and a renewal that
    waited out a backoff would only be counted from when it was sent anyway.
    """

    def __init__(self, api_client: ApiClient, namespace: str, name: str, timeout: float) -> None:
        self._api = CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self._timeout = (timeout, timeout)

    @property
    def label(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    def _send(self, what: str, call: Callable[..., Any]) -> Obj:
        with translated(f"{what} lease {self.label}"):
            response = call(_preload_content=False, _request_timeout=self._timeout)
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
        if not isinstance(body, dict):
            raise TemporaryError(f"{what} lease {self.label}: the answer is not an object")
        return body

    def get(self) -> Obj | None:
        """The Lease, or None when it does not exist."""
        try:
            return self._send(
                "get", lambda **kw: self._api.read_namespaced_lease(self.name, self.namespace, **kw)
            )
        except NotFoundError:
            return None

    def create(self, spec: Obj) -> Obj:
        """POST a new Lease; ConflictError (409 AlreadyExists) when another replica was first."""
        # The client validates the dict into a V1Lease (pydantic) and serialises that.
        body: Any = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }
        return self._send(
            "create",
            lambda **kw: self._api.create_namespaced_lease(
                self.namespace, body, field_manager=FIELD_MANAGER, **kw
            ),
        )

    def replace(self, lease: Obj, spec: Obj) -> Obj:
        """PUT ``lease`` with ``spec``, conditional on the resourceVersion it was read at."""
        body: Any = {**lease, "spec": spec}
        return self._send(
            "update",
            lambda **kw: self._api.replace_namespaced_lease(
                self.name, self.namespace, body, field_manager=FIELD_MANAGER, **kw
            ),
        )
