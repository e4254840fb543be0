"""Kubernetes API failures, translated at the boundary into the controller's two error kinds.

The client library (``kubernetes.client.ApiException``, urllib3 transport errors, socket
errors) must not leak past ``controller.kube``: callers catch by meaning, so the client can
be replaced without touching them (kopf ``_cogs/clients/errors.py``). The tree::

    AiopsError                        controller.errors
    ├── TemporaryError                retry after ``delay`` seconds
    │   └── KubeTemporaryError        429, 5xx, 408, timeouts, dropped connections
    │       ├── KubeRetryAfterError   ... the server said when (Retry-After): also a
    │       │                         resilience.RetryAfterError, so the one retry layer
    │       │                         waits at least that long (and gives up past its cap)
    │       ├── ConflictError         409: the object changed; re-read, re-decide, then retry
    │       │   └── PreconditionFailed  a write's precondition no longer holds (the
    │       │                           object, its revision or its HPA moved): re-plan
    │       └── GoneError             410: the resourceVersion expired; re-list, then retry
    └── PermanentError                repeating the same request cannot help
        └── KubePermanentError        other 4xx: 400, 401, 403, 422 ...
            ├── NotFoundError         404: the object, namespace or CRD does not exist
            └── WriteRefused          the writer will not write: another owner (HPA,
                                      KEDA, Argo Rollouts, GitOps) would undo or fight it

``Retry-After`` (seconds or an HTTP date) becomes ``delay``; without it a short default
applies, since the single retry layer above owns the backoff policy (R9).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from controller.errors import AiopsError, PermanentError, TemporaryError
from controller.resilience import RetryAfterError

DEFAULT_DELAY = 1.0
"""Seconds to wait after a temporary failure when the server gave no Retry-After."""

_TEMPORARY_STATUSES = frozenset({408, 429})
_CLIENT_FAILURES = (
    ApiException,
    urllib3.exceptions.HTTPError,
    OSError,
    json.JSONDecodeError,
    UnicodeDecodeError,
)


class KubeTemporaryError(TemporaryError):
    """The API server or the network failed in a way that may pass."""

    def __init__(
        self,
        message: str,
        *,
        delay: float = DEFAULT_DELAY,
        status: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, delay=delay)
        self.status = status
        self.retry_after = retry_after
        """What the server asked for (Retry-After), or None when it said nothing."""


class KubeRetryAfterError(KubeTemporaryError, RetryAfterError):
    """429/5xx with ``Retry-After``: ``delay`` is the server's, and the retry layer honours it."""


class ConflictError(KubeTemporaryError):
    """409: a conditional write lost to a newer version; re-read before trying again (R5)."""


class PreconditionFailed(ConflictError):
    """What a plan rests on changed before the write (resourceVersion, revision, HPA): the
    loop must re-read and re-plan; never retried blindly."""


class GoneError(KubeTemporaryError):
    """410: the resourceVersion is too old for the API server; only a re-list recovers."""


class KubePermanentError(PermanentError):
    """The API server rejected the request for a reason retrying cannot fix."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(KubePermanentError):
    """404: the object, its namespace, or its resource type (an uninstalled CRD) is absent."""


class WriteRefused(KubePermanentError):
    """The writer refuses an action on purpose (R16); the message says why and what to use."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=0)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta seconds or HTTP date) into seconds, or None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


_MESSAGE_LIMIT = 500


def status_message(body: Any) -> str:
    """The ``message`` of a Status response body (what the API server says is wrong), or ""."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip().startswith("{"):
        return ""
    try:
        decoded = json.loads(body)
    except ValueError:
        return ""
    message = decoded.get("message") if isinstance(decoded, dict) else None
    if not isinstance(message, str):
        return ""
    text = " ".join(message.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _describe(exc: ApiException, what: str) -> str:
    reason = str(exc.reason or "").strip().replace("\n", " ")
    described = f"{what}: HTTP {exc.status} {reason}".rstrip()
    message = status_message(exc.body)
    return f"{described}: {message}" if message else described


def from_api_exception(exc: ApiException, what: str) -> AiopsError:
    """Map one ApiException (an HTTP status, or a watch ERROR event) to our tree."""
    status = int(exc.status or 0)
    message = _describe(exc, what)
    delay = retry_after_seconds(_header(exc.headers, "Retry-After"))
    if status == 409:
        return ConflictError(message, delay=delay or 0.0, status=status, retry_after=delay)
    if status == 410:
        return GoneError(message, delay=0.0, status=status)
    if status == 404:
        return NotFoundError(message, status=status)
    if status == 0 or status in _TEMPORARY_STATUSES or status >= 500:
        # status 0: the client failed before any response (TLS handshake, bad content type).
        if delay is not None:
            return KubeRetryAfterError(message, delay=delay, status=status, retry_after=delay)
        return KubeTemporaryError(message, delay=DEFAULT_DELAY, status=status)
    return KubePermanentError(message, status=status)


def translate(exc: BaseException, what: str) -> AiopsError | None:
    """Our error for a client-side failure, or None when ``exc`` is not an API/transport one."""
    if isinstance(exc, AiopsError):
        return exc
    if isinstance(exc, ApiException):
        return from_api_exception(exc, what)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        # Connection refused/reset, read timeouts, a watch stream cut mid-chunk.
        return KubeTemporaryError(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        # A body that is not the JSON the API promises (a proxy's HTML error page).
        return KubeTemporaryError(f"{what}: unreadable response: {exc}")
    return None


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Run a client call; re-raise its API and transport failures as our errors."""
    try:
        yield
    except _CLIENT_FAILURES as exc:
        ours = translate(exc, what)
        if ours is None:  # pragma: no cover - every caught type is translated
            raise
        raise ours from exc
