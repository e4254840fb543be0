"""The HTTP boundary of the Prometheus observer: POSTed PromQL, bounded answers, two errors.

Queries go as ``application/x-www-form-urlencoded`` POST bodies through the observer's own
``requests`` session, so the request line stays a few dozen bytes whatever the watched set
(a GET for 1,000 workloads had a 34 KB URL; proxies cap request lines at 8 KiB and answer
431). prometheus-api-client is not used: its POST option still puts the query in the URL.

An answer is read within one deadline (``timeout`` for the whole body, not per socket read,
so a trickling server cannot hold a tick) and one size cap (``max_response_bytes``), then
checked: status, content type, JSON, envelope. Everything that can go wrong on the way (a
refused or reset connection, a truncated chunked body, a slow or huge answer, a wrong content
type, invalid JSON, a wrong shape, 4xx/5xx with or without Prometheus' error JSON) leaves
this module as TemporaryError (may pass: timeouts, connection faults, 429, 5xx, with the
server's Retry-After) or PermanentError (repeating cannot help: other 4xx, unreadable
answers), and only through ``RangeQuerier`` (breaker, then the one retry layer).
"""

from __future__ import annotations

import http.client
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
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
    "QueryRange",
    "RangeQuerier",
    "Session",
    "UnexpectedAnswer",
    "aligned",
    "build_session",
    "translate",
]

Session = requests.Session
RANGE_PATH = "/api/v1/query_range"
DETAIL_LIMIT = 300
"""Characters of a backend's own words kept in a message (bodies can be megabytes)."""
_CHUNK = 1 << 16
ENCODED_QUERIES = 16
"""Query texts whose encoded form is kept: a tick's eight and the latest reads'."""

IO_ERRORS: tuple[type[Exception], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)
"""What a request or a body read may raise: requests', urllib3's and the socket's own."""


class UnexpectedAnswer(PermanentError):
    """The backend answered, but not with what a Prometheus range query returns."""


# -- boundary translation -------------------------------------------------------------------


def clip(text: str, limit: int = DETAIL_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying so: messages stay bounded."""
    text = text.strip()
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _backend_message(status: int, body: str) -> str:
    """Prometheus' own ``errorType: error`` when the body is its JSON, else the raw body."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and "error" in parsed:
        detail = clip(f"{parsed.get('errorType', 'error')}: {parsed['error']}")
    else:
        detail = clip(body)
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


def translate(exc: BaseException, timeout: float) -> TemporaryError | PermanentError:
    """Map a requests / urllib3 / socket exception onto the controller's two kinds."""
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return TemporaryError(f"timed out after {timeout:g}s: {_reason(exc)}")
    if isinstance(exc, urllib3.exceptions.DecodeError | requests.exceptions.ContentDecodingError):
        return PermanentError(f"undecodable answer: {_reason(exc)}")
    if isinstance(exc, IO_ERRORS):
        return TemporaryError(f"connection failed: {_reason(exc)}")
    return PermanentError(f"unreadable answer: {clip(repr(exc))}")


def _reason(exc: BaseException) -> str:
    """urllib3's underlying reason when there is one, bounded (never the request body)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    return clip(str(reason) if reason is not None else str(exc) or type(exc).__name__)


def build_session(settings: PrometheusSettings) -> requests.Session:
    """The observer's own session: our headers and TLS choice, and no transport retries.

    urllib3's retries are switched off (R9: one retry layer, ours); connections are pooled
    across ticks. Raises ConfigError without a URL.
    """
    if not settings.url:
        raise ConfigError(SETTINGS_SOURCE, "prometheus.url", "is required to query Prometheus")
    session = requests.Session()
    session.verify = settings.verify_tls
    session.headers.update(settings.headers)
    adapter = HTTPAdapter(max_retries=Retry(total=0, read=False, raise_on_status=False))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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

    def form(self) -> dict[str, str]:
        """The range as form fields (millisecond precision, as Prometheus keeps it)."""
        return {"start": _seconds(self.start), "end": _seconds(self.end), "step": f"{self.step:g}"}


def _seconds(at: float) -> str:
    return f"{at:.3f}".rstrip("0").rstrip(".")


def aligned(at: float, step: float) -> float:
    """``at`` rounded down to a multiple of ``step``: stable timestamps across ticks."""
    return math.floor(at / step) * step


@dataclass(frozen=True, slots=True)
class _Reply:
    """A whole HTTP answer, read within the deadline and the size cap."""

    status: int
    headers: Mapping[str, str]
    body: bytearray


def _read_body(raw: Any, deadline: float, timeout: float, limit: int) -> bytearray:
    """The decoded body, chunk by chunk as it arrives, bounded in time and size.

    ``read1`` returns as soon as some bytes are there, so the deadline is checked between
    socket reads (each bounded by the socket timeout) even when a server trickles.
    """
    body = bytearray()
    while chunk := raw.read1(_CHUNK, decode_content=True):
        body += chunk
        if len(body) > limit:
            raise PermanentError(f"answer larger than {limit} bytes: not read further")
        if time.monotonic() > deadline:
            raise TemporaryError(f"timed out after {timeout:g}s reading the answer")
    return body


_EXCHANGE_ERRORS: tuple[type[Exception], ...] = (
    *IO_ERRORS,
    ValueError,
    TypeError,
    LookupError,
    RuntimeError,
)
"""IO_ERRORS, and what requests and urllib3 raise on malformed status lines and headers."""


FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def _post(session: requests.Session, url: str, form: str, timeout: float, limit: int) -> _Reply:
    """POST the encoded ``form``; the whole answer or a translated error (nothing else)."""
    deadline = time.monotonic() + timeout
    try:
        response = session.post(url, data=form, headers=FORM_TYPE, timeout=timeout, stream=True)
    except _EXCHANGE_ERRORS as exc:
        raise translate(exc, timeout) from exc
    try:
        with response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise PermanentError(f"answer of {declared} bytes is over the {limit}-byte limit")
            body = _read_body(response.raw, deadline, timeout, limit)
            return _Reply(int(response.status_code), response.headers, body)
    except _EXCHANGE_ERRORS as exc:
        raise _broken_off(int(response.status_code), response.headers, exc, timeout) from exc


def _broken_off(
    status: int, headers: Mapping[str, str], exc: BaseException, timeout: float
) -> TemporaryError | PermanentError:
    """A body that broke off: judged by its status when that was an error already.

    A 200 cut short may pass next time; a 431 cut short is still a 431 (the measured proxy
    answered 431 and reset the connection).
    """
    reason = translate(exc, timeout)
    if 200 <= status < 300:
        return reason
    retry_after = parse_retry_after(headers.get("Retry-After"), headers.get("Date"))
    return _from_status(status, f"answer broken off ({reason})", retry_after)


def _status_error(reply: _Reply) -> TemporaryError | PermanentError:
    headers = reply.headers
    retry_after = parse_retry_after(headers.get("Retry-After"), headers.get("Date"))
    body = reply.body.decode("utf-8", errors="replace")
    return _from_status(reply.status, body, retry_after)


def _decode(reply: _Reply) -> Any:
    """The JSON of a 2xx answer; UnexpectedAnswer when it is not JSON at all."""
    kind = reply.headers.get("Content-Type", "")
    if kind.split(";")[0].strip().lower() != "application/json":
        snippet = clip(reply.body[:DETAIL_LIMIT].decode("utf-8", errors="replace"))
        raise UnexpectedAnswer(f"HTTP {reply.status} with content type {kind!r}: {snippet}")
    try:
        return json.loads(reply.body)
    except (ValueError, RecursionError) as exc:
        raise UnexpectedAnswer(f"HTTP {reply.status} with invalid JSON: {clip(str(exc))}") from exc


def kind_of(value: object) -> str:
    """A JSON value's type in JSON's words, for shape errors."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for python, name in names.items():
        if isinstance(value, python):
            return name
    return "null" if value is None else "a number"


def _result(payload: Any, result_type: str) -> list[Any]:
    """``data.result`` of a successful answer of ``result_type``, or UnexpectedAnswer."""
    if not isinstance(payload, dict):
        raise UnexpectedAnswer(f"answer is {kind_of(payload)}, not an object")
    if payload.get("status") == "error":
        raise PermanentError(clip(f"{payload.get('errorType', 'error')}: {payload.get('error')}"))
    data = payload.get("data")
    if payload.get("status") != "success" or not isinstance(data, dict):
        raise UnexpectedAnswer("answer has no status 'success' with a data object")
    if data.get("resultType") != result_type:
        raise UnexpectedAnswer(f"data.resultType is {data.get('resultType')!r}, not {result_type}")
    result = data.get("result")
    if not isinstance(result, list):
        raise UnexpectedAnswer(f"data.result is {kind_of(result)}, not an array")
    return result


class RangeQuerier:
    """Range queries against one Prometheus through its breaker and the one retry layer."""

    def __init__(
        self,
        session: requests.Session,
        settings: PrometheusSettings,
        breaker: CircuitBreaker,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._session = session
        self._url = f"{(settings.url or '').rstrip('/')}{RANGE_PATH}"
        self._retry = settings.retry
        self._timeout = settings.timeout.total_seconds()
        self._limit = settings.max_response_bytes
        self._encoded: dict[str, str] = {}
        self.breaker = breaker
        self._sleep = sleep

    def close(self) -> None:
        """Release the HTTP connection pool (on shutdown)."""
        self._session.close()

    def _form(self, query: str, span: QueryRange) -> str:
        """The urlencoded form of one query; the query's part is encoded once per text.

        Why: a query for 10,000 workloads is ~100 KB of PromQL, and percent-encoding it
        (``urlencode`` loops over every byte in Python) cost ~25 ms per query per tick for a
        text that changes only with the watched set.
        """
        encoded = self._encoded.pop(query, None)
        if encoded is None:
            encoded = urlencode({"query": query})
        self._encoded[query] = encoded  # newest last; the oldest go first
        while len(self._encoded) > ENCODED_QUERIES:
            del self._encoded[next(iter(self._encoded))]
        rest = urlencode({**span.form(), "timeout": f"{self._timeout:g}s"})
        return f"{encoded}&{rest}"

    def _attempt(self, query: str, span: QueryRange) -> list[Any]:
        form = self._form(query, span)
        reply = _post(self._session, self._url, form, self._timeout, self._limit)
        if not 200 <= reply.status < 300:
            raise _status_error(reply)
        return _result(_decode(reply), "matrix")

    def query(self, query: str, span: QueryRange) -> list[Any]:
        """``data.result`` of one range query, through the breaker and the retry layer.

        Raises only TemporaryError (CircuitOpenError, without a request, while the breaker
        is open) and PermanentError.
        """
        return self.breaker.call(
            lambda: retry_call(
                lambda: self._attempt(query, span),
                settings=self._retry,
                name="prometheus.query_range",
                sleep=self._sleep,
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

    def circuit_message(self, name: str, span: QueryRange) -> str:
        """What a window says when its query (by ``name``) was skipped: the breaker is open."""
        return (
            f"circuit open after {self.breaker.consecutive_failures} consecutive failures "
            f"(next probe in {self.breaker.retry_in():.0f}s); skipped query {name} "
            f"over {span.describe()}"
        )
