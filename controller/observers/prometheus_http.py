"""The HTTP boundary of the Prometheus observer: the client, one range query, its errors.

One range query goes out through the circuit breaker and the one retry layer
(``resilience.retry_call``); the SDK's and ``requests``' exceptions are translated into
TemporaryError / PermanentError right here (429 and 5xx may pass, with the server's
Retry-After; other 4xx never). Together with ``observers.prometheus`` (which only takes the
client's type from here) this is the only place that touches ``prometheus_api_client``.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from controller.errors import ConfigError, PermanentError, TemporaryError
from controller.models.base import from_epoch
from controller.observers.queries import SETTINGS_SOURCE
from controller.resilience import (
    CircuitBreaker,
    RetryAfterError,
    parse_retry_after,
    retry_call,
)
from controller.settings import PrometheusSettings

__all__ = [
    "PrometheusConnect",
    "QueryRange",
    "RangeQuerier",
    "aligned",
    "build_client",
    "translate",
]

_CLIENT_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\Z", re.DOTALL)


# -- boundary translation -------------------------------------------------------------------


def _backend_message(status: int, body: str) -> str:
    """Prometheus' own ``errorType: error`` when the body is its JSON, else the raw body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "error" in parsed:
        detail = f"{parsed.get('errorType', 'error')}: {parsed['error']}"
    else:
        detail = body.strip()[:300]
    return f"HTTP {status}: {detail}" if detail else f"HTTP {status}"


def _from_status(
    status: int, body: str, retry_after: float | None
) -> TemporaryError | PermanentError:
    """429 and 5xx may pass (with the server's Retry-After, when it sent one); 4xx never."""
    message = _backend_message(status, body)
    if status == 429 or status >= 500:
        if retry_after is not None:
            return RetryAfterError(f"{message} (Retry-After {retry_after:g}s)", delay=retry_after)
        return TemporaryError(message)
    return PermanentError(message)


def translate(exc: Exception, timeout: float) -> TemporaryError | PermanentError:
    """Map a requests / prometheus_api_client exception onto the controller's two kinds."""
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        headers = response.headers
        retry_after = parse_retry_after(headers.get("Retry-After"), headers.get("Date"))
        return _from_status(int(response.status_code), str(response.text), retry_after)
    if isinstance(exc, PrometheusApiClientException):
        match = _CLIENT_STATUS.match(str(exc))
        if match:
            return _from_status(int(match.group(1)), match.group(2), None)
        return PermanentError(str(exc))
    if isinstance(exc, requests.Timeout):
        return TemporaryError(f"timed out after {timeout:g}s: {_reason(exc)}")
    if isinstance(exc, requests.RequestException):
        return TemporaryError(f"connection failed: {_reason(exc)}")
    return PermanentError(f"unreadable response: {exc!r}")


def _reason(exc: Exception) -> str:
    """urllib3's underlying reason, without the URL (it repeats the whole encoded query)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    return str(reason) if reason is not None else str(exc)


def _raise_for_status(response: Any, *args: object, **kwargs: object) -> None:
    """requests response hook: fail on 4xx/5xx with the response (and its headers) attached."""
    response.raise_for_status()


def build_client(settings: PrometheusSettings) -> PrometheusConnect:
    """A PrometheusConnect with our headers and TLS choice, and without SDK retries.

    The SDK's own urllib3 retries are switched off (R9: one retry layer, ours), and a
    response hook keeps the HTTP status and Retry-After header of failed calls.
    """
    if not settings.url:
        raise ConfigError(SETTINGS_SOURCE, "prometheus.url", "is required to query Prometheus")
    session = requests.Session()
    session.verify = settings.verify_tls
    session.hooks["response"].append(_raise_for_status)
    return PrometheusConnect(
        url=settings.url.rstrip("/"),
        headers=dict(settings.headers),
        disable_ssl=not settings.verify_tls,
        retry=Retry(total=0, read=False, raise_on_status=False),
        session=session,
    )


# -- one query --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryRange:
    """The [start, end] range and step of one range query, in epoch seconds."""

    start: float
    end: float
    step: float

    @property
    def last_step(self) -> float:
        """The newest evaluation time Prometheus answers for (start + k * step <= end)."""
        return self.start + math.floor((self.end - self.start) / self.step) * self.step

    def describe(self) -> str:
        """Human form for error messages: ISO start..end and the step."""
        start = from_epoch(self.start).isoformat()
        end = from_epoch(self.end).isoformat()
        return f"{start}..{end} step {self.step:g}s"


def aligned(at: float, step: float) -> float:
    """``at`` rounded down to a multiple of ``step``: stable timestamps across ticks."""
    return math.floor(at / step) * step


class RangeQuerier:
    """Range queries against one Prometheus through its breaker and the one retry layer."""

    def __init__(
        self,
        client: PrometheusConnect,
        settings: PrometheusSettings,
        breaker: CircuitBreaker,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._retry = settings.retry
        self._timeout = settings.timeout.total_seconds()
        self.breaker = breaker
        self._sleep = sleep

    def close(self) -> None:
        """Release the HTTP connection pool (on shutdown)."""
        self._client.close()

    def query(self, query: str, span: QueryRange) -> list[Any]:
        """One range query through the breaker and the retry layer; translated errors only.

        Raises CircuitOpenError (a TemporaryError) without a request while the breaker is open.
        """

        def attempt() -> list[Any]:
            try:
                result = self._client.custom_query_range(
                    query,
                    start_time=from_epoch(span.start),
                    end_time=from_epoch(span.end),
                    step=f"{span.step:g}",
                    params={"timeout": f"{self._timeout:g}s"},
                    # requests takes float seconds; the client merely annotates ``int``.
                    timeout=cast(int, self._timeout),
                )
            except (
                requests.RequestException,
                PrometheusApiClientException,
                ValueError,
                KeyError,
            ) as exc:
                raise translate(exc, self._timeout) from exc
            if not isinstance(result, list):
                raise PermanentError(f"unreadable response: result is {type(result).__name__}")
            return result

        return self.breaker.call(
            lambda: retry_call(
                attempt, settings=self._retry, name="prometheus.query_range", sleep=self._sleep
            )
        )

    def query_or_raise(self, query: str, span: QueryRange) -> list[Any]:
        """``query`` whose errors name the query and the range (kept temporary or not)."""
        try:
            return self.query(query, span)
        except TemporaryError as exc:
            message = f"query {query} over {span.describe()} failed: {exc}"
            raise TemporaryError(message, delay=exc.delay) from exc
        except PermanentError as exc:
            raise PermanentError(f"query {query} over {span.describe()} failed: {exc}") from exc

    def circuit_message(self, query: str, span: QueryRange) -> str:
        """What a window says when its query was skipped because the breaker is open."""
        return (
            f"circuit open after {self.breaker.consecutive_failures} consecutive failures "
            f"(next probe in {self.breaker.retry_in():.0f}s); skipped query {query} "
            f"over {span.describe()}"
        )
