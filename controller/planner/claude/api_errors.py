"""The Claude planner's SDK error boundary: ``anthropic`` exceptions as the controller's errors.

``translate`` is the classifier of the one retry layer: 529/500-504/connection/timeouts are
temporary, 429 is temporary and carries its ``retry-after`` (as a ``RetryAfterError``), a
spend limit or billing problem is permanent (never retried), other 4xx are permanent. Every
translated error also names the ``FallbackReason`` the planner reports when it gives up. An
``InputError`` raised by an injected transport (a missing recording) passes through as is.
"""

from __future__ import annotations

from typing import Any

import anthropic

from controller.errors import AiopsError, InputError, PermanentError, TemporaryError
from controller.models.proposals import FallbackReason
from controller.resilience import RetryAfterError, parse_retry_after


class CallError(AiopsError):
    """Mixin carrying the fallback reason of a translated SDK error."""

    reason: FallbackReason = FallbackReason.SERVER_ERROR


class TemporaryCallError(TemporaryError, CallError):
    """Retry later: a timeout, a lost connection, 429 without Retry-After, 5xx, overload."""

    def __init__(self, reason: FallbackReason, message: str, delay: float = 0.0) -> None:
        super().__init__(message, delay=delay)
        self.reason = reason


class RetryAfterCallError(RetryAfterError, CallError):
    """Retry no sooner than the server's ``retry-after`` (429, 5xx)."""

    def __init__(self, reason: FallbackReason, message: str, delay: float) -> None:
        super().__init__(message, delay=delay)
        self.reason = reason


class PermanentCallError(PermanentError, CallError):
    """Never retried: a spend cap, a rejected key or request, an unexpected API error."""

    def __init__(self, reason: FallbackReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _is_spend_cap(exc: anthropic.APIStatusError) -> bool:
    """Whether the error says a spend limit or billing problem: retrying cannot help."""
    words = " ".join(str(x) for x in (exc.type, exc.error_code, exc.api_message, exc.message))
    lowered = words.lower()
    return (
        exc.status_code == 402
        or "billing_error" in lowered
        or "spend_limit" in lowered
        or "spend limit" in lowered
    )


def translate(exc: anthropic.APIError) -> AiopsError:
    """The controller's error for an SDK error (the classifier of the one retry layer)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, InputError):
            return cause
        cause = cause.__cause__
    if isinstance(exc, anthropic.APITimeoutError):
        return TemporaryCallError(FallbackReason.TIMEOUT, "call timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return TemporaryCallError(FallbackReason.CONNECTION, f"connection failed: {exc.message}")
    if not isinstance(exc, anthropic.APIStatusError):
        return PermanentCallError(
            FallbackReason.SERVER_ERROR, f"unexpected API error: {exc.message}"
        )
    return _translate_status(exc)


def _translate_status(exc: anthropic.APIStatusError) -> AiopsError:
    status, kind = exc.status_code, exc.type or "unknown"
    what = f"HTTP {status} {kind}: {exc.api_message or ''}".strip()
    if _is_spend_cap(exc):
        return PermanentCallError(FallbackReason.SPEND_CAP, what)
    headers = exc.response.headers
    after = parse_retry_after(headers.get("retry-after"), headers.get("date"))
    if status == 429:
        if after is None:
            return TemporaryCallError(FallbackReason.RATE_LIMITED, what)
        return RetryAfterCallError(FallbackReason.RATE_LIMITED, what, after)
    if status == 529 or kind == "overloaded_error":
        return TemporaryCallError(FallbackReason.OVERLOADED, what)
    if 500 <= status <= 504:
        if after is not None:
            return RetryAfterCallError(FallbackReason.SERVER_ERROR, what, after)
        return TemporaryCallError(FallbackReason.SERVER_ERROR, what)
    if status == 401:
        return PermanentCallError(FallbackReason.NO_KEY, f"the API key was rejected ({what})")
    return PermanentCallError(
        FallbackReason.REQUEST_REJECTED, f"the API rejected the request ({what})"
    )


def error_body(exc: anthropic.APIError) -> dict[str, Any]:
    """What the server said (or why nothing came back), with the status for replay."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {"type": "error", "error": {}}
        http: dict[str, Any] = {"status": exc.status_code}
        after = exc.response.headers.get("retry-after")
        if after is not None:
            http["retry_after"] = after
        return {**body, "_http": http}
    kind = "timeout_error" if isinstance(exc, anthropic.APITimeoutError) else "connection_error"
    return {
        "type": "error",
        "error": {"type": kind, "message": exc.message},
        "_http": {"status": 0},
    }
