"""Failures as the API server reports them: a ``Status`` object with a code and a reason.

The shapes, reasons and messages follow ``metav1.Status`` and the API server's
``k8s.io/apimachinery/pkg/api/errors`` constructors, so a client's error handling meets
here what it meets on a real cluster::

    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
     "message": "...", "reason": "Conflict", "details": {...}, "code": 409}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.sim.kube_api.resources import ResourceType

Obj = dict[str, Any]


def status_body(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    """A ``metav1.Status`` failure (``details`` omitted when there are none)."""
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """A request the fake answers with a Status failure (raised inside request handling)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: Obj | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> Obj:
        """The Status object sent as the response body."""
        return status_body(self.code, self.reason, self.message, self.details)


@dataclass(frozen=True)
class Cause:
    """One field error of a 422 (``metav1.StatusCause``)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def render(self) -> str:
        """``spec.replicas: Invalid value: -1: must be greater than or equal to 0``."""
        return f"{self.field}: {self.message}"

    def as_json(self) -> Obj:
        """The cause as it appears in ``details.causes``."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


def invalid_value(path: str, value: Any, why: str) -> Cause:
    """``Invalid value: <value>: <why>`` (``field.Invalid``)."""
    shown = f'"{value}"' if isinstance(value, str) else _go_value(value)
    return Cause(path, f"Invalid value: {shown}: {why}")


def required(path: str) -> Cause:
    """``Required value`` (``field.Required``)."""
    return Cause(path, "Required value", "FieldValueRequired")


def _go_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "{...}" if isinstance(value, dict) else "[...]" if isinstance(value, list) else "…"


def _details(resource: ResourceType, name: str, *, kind: str | None = None) -> Obj:
    details: Obj = {"name": name, "kind": kind or resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: ResourceType, name: str) -> ApiError:
    """404 NotFound: ``deployments.apps "ghost" not found``."""
    return ApiError(
        404,
        "NotFound",
        f'{resource.group_resource} "{name}" not found',
        details=_details(resource, name),
    )


def path_not_found(path: str) -> ApiError:
    """404 for a path nothing is served at (an unknown type, an uninstalled CRD)."""
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def conflict(resource: ResourceType, name: str) -> ApiError:
    """409 Conflict: the write named an outdated ``metadata.resourceVersion``."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.group_resource} "{name}": the object '
        "has been modified; please apply your changes to the latest version and try again",
        details=_details(resource, name),
    )


def already_exists(resource: ResourceType, name: str) -> ApiError:
    """409 AlreadyExists: a create (POST) named an object that exists."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{resource.group_resource} "{name}" already exists',
        details=_details(resource, name),
    )


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid, one cause per field: ``Deployment.apps "x" is invalid: spec.replicas: ...``.

    ``kind``/``group`` name the object validated (``Scale``/``autoscaling`` for a scale
    subresource write), as ``errors.NewInvalid`` does.
    """
    rendered = [c.render() for c in causes]
    text = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details: Obj = {"name": name, "kind": kind, "causes": [c.as_json() for c in causes]}
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details=details)


def bad_request(message: str) -> ApiError:
    """400 BadRequest (an unreadable body, an unknown dryRun value)."""
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    """415 UnsupportedMediaType (a strategic merge patch on a custom resource)."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)} (got {content_type or 'none'})",
    )


def method_not_allowed(method: str, path: str) -> ApiError:
    """405 MethodNotAllowed: the fake serves no create, delete or other verbs."""
    return ApiError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested "
        f"resource ({method} {path})"
    )  # fmt: skip


def forbidden(resource: ResourceType, name: str | None, verb: str) -> ApiError:
    """403 Forbidden, worded like an RBAC denial."""
    what = f'{resource.group_resource} "{name}"' if name else resource.group_resource
    return ApiError(
        403,
        "Forbidden",
        f'{what} is forbidden: User "system:serviceaccount:aiops:aiops-controller" cannot '
        f"{verb} resource",
        details=_details(resource, name or ""),
    )


def too_many_requests(retry_after: int) -> ApiError:
    """429 TooManyRequests with ``Retry-After`` (API Priority and Fairness)."""
    return ApiError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        details={"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def server_error(code: int, retry_after: int | None = None) -> ApiError:
    """500 InternalError or 503 ServiceUnavailable (optionally with ``Retry-After``)."""
    reason = "ServiceUnavailable" if code == 503 else "InternalError"
    message = "the server is currently unable to handle the request" if code == 503 else (
        "Internal error occurred: etcdserver: request timed out"
    )  # fmt: skip
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ApiError(code, reason, message, headers=headers)


def expired(message: str) -> ApiError:
    """410 Expired (a compacted resourceVersion or an outdated continue token)."""
    return ApiError(410, "Expired", message)


@dataclass
class Response:
    """What a handler answers: a code, a JSON body and extra headers."""

    code: int
    body: Obj
    headers: dict[str, str] = field(default_factory=dict)
