"""The live metrics observer: batched, incremental PromQL range queries against Prometheus.

Per tick it sends ONE range query per signal for every watched workload (the cost does not
grow with the fleet), refetching only the tail since the last evaluated step, and serves
SignalWindows from a rolling store. Failures are data: a failed query marks that signal's
windows ``error`` with the exact query, range and backend message; a workload absent from a
successful answer gets ``no_data``; NaN and infinite samples become gaps. Values are reported
as Prometheus returns them (no clamping), so a fleet-wide unit change stays visible (CH-09).

This is the only module that imports ``prometheus_api_client``; its and ``requests``'
exceptions are translated into TemporaryError / PermanentError right here.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import requests
import structlog
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from controller.errors import ConfigError, PermanentError, TemporaryError
from controller.models.base import epoch, from_epoch
from controller.models.modes import SourceHealth
from controller.models.signals import Health, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.observers.queries import (
    SETTINGS_SOURCE,
    fill,
    placeholder_values,
    rate_window,
    regex_alternation,
    templates,
)
from controller.observers.series_store import Point, SeriesStore, parse_values
from controller.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    RetryAfterError,
    parse_retry_after,
    retry_call,
)
from controller.settings import PrometheusSettings

SOURCE = "prometheus"
MAX_POINTS_PER_QUERY = 10_000
"""Prometheus refuses range queries over 11,000 points per series; capture chunks below it."""

log = structlog.get_logger(__name__)

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


def build_prometheus_metrics(
    settings: PrometheusSettings,
    *,
    stale_after: timedelta,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PrometheusMetrics:
    """The live observer over ``settings.url`` (raises ConfigError on bad settings)."""
    return PrometheusMetrics(
        client=build_client(settings),
        settings=settings,
        stale_after=stale_after,
        clock=clock,
        sleep=sleep,
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


@dataclass(frozen=True, slots=True)
class _Answer:
    """One signal's query in one tick: the query, its range, and what came back."""

    query: str
    span: QueryRange
    series: dict[str, list[Point]] = field(default_factory=dict)
    copies: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(slots=True)
class _Cursor:
    """How far a signal has been fetched, and for which workloads."""

    watermark: float
    covered: frozenset[str]


def _workload_key(metric: Mapping[str, Any]) -> str | None:
    namespace, workload = metric.get("namespace"), metric.get("workload")
    if not isinstance(namespace, str) or not isinstance(workload, str):
        return None
    return f"{namespace}/{workload}"


class PrometheusMetrics:
    """MetricsSource and HealthReporter over a Prometheus-compatible HTTP API."""

    def __init__(
        self,
        *,
        client: PrometheusConnect,
        settings: PrometheusSettings,
        stale_after: timedelta,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._templates = templates(settings)
        self._step = settings.step.total_seconds()
        if self._step <= 0:
            raise ConfigError(SETTINGS_SOURCE, "prometheus.step", "must be positive")
        self._lookback = settings.lookback.total_seconds()
        self._timeout = settings.timeout.total_seconds()
        self._stale_after = stale_after.total_seconds()
        self._sleep = sleep
        self._breaker = breaker or CircuitBreaker(settings.breaker, clock)
        self._store = SeriesStore(self._lookback)
        self._cursors: dict[Signal, _Cursor] = {}
        self._latest: dict[Signal, dict[str, Point]] = {}
        self._last_success: datetime | None = None
        self._last_error: tuple[datetime, str] | None = None

    def close(self) -> None:
        """Release the HTTP connection pool (on shutdown)."""
        self._client.close()

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker guarding this Prometheus (its state feeds health details)."""
        return self._breaker

    # -- MetricsSource --------------------------------------------------------------------

    def observe(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """Every signal's window for each workload at ``now``; never raises for backend faults."""
        refs = list({ref.key: ref for ref in workloads}.values())
        if not refs:
            return {}
        at = epoch(now)
        keys = frozenset(ref.key for ref in refs)
        self._store.forget(set(keys))
        values = placeholder_values(self._settings, refs)
        answers = {
            signal: self._fetch_tail(signal, fill(template, values), keys, at)
            for signal, template in self._templates.items()
        }
        self._store.trim(at)
        self._note_tick(answers, now)
        return {
            ref.key: {
                signal: self._window(ref, signal, answer, at) for signal, answer in answers.items()
            }
            for ref in refs
        }

    def _tail(self, signal: Signal, keys: frozenset[str], at: float) -> QueryRange:
        """Backfill the whole lookback the first time (or for new workloads), else the tail."""
        start = at - self._lookback
        cursor = self._cursors.get(signal)
        if cursor is not None and keys <= cursor.covered and cursor.watermark - self._step <= at:
            start = max(start, cursor.watermark - self._step)
        return QueryRange(aligned(start, self._step), at, self._step)

    def _fetch_tail(self, signal: Signal, query: str, keys: frozenset[str], at: float) -> _Answer:
        span = self._tail(signal, keys, at)
        answer = self._ask(query, span, keys)
        if answer.error is not None:
            log.info("prometheus query failed", signal=signal.value, error=answer.error)
            return answer
        for key in keys:
            self._store.replace((key, signal), span.start, span.end, answer.series.get(key, []))
        self._cursors[signal] = _Cursor(span.last_step, keys)
        self._latest[signal] = {k: pts[-1] for k, pts in answer.series.items() if pts}
        return answer

    def _ask(self, query: str, span: QueryRange, keys: frozenset[str]) -> _Answer:
        """Run one range query; every failure comes back as an _Answer with ``error`` set."""
        try:
            result = self._query(query, span)
        except CircuitOpenError:
            return _Answer(query, span, error=self._circuit_message(query, span))
        except (TemporaryError, PermanentError) as exc:
            return _Answer(query, span, error=f"query {query} over {span.describe()} failed: {exc}")
        return self._collect(query, span, result, keys)

    def _circuit_message(self, query: str, span: QueryRange) -> str:
        return (
            f"circuit open after {self._breaker.consecutive_failures} consecutive failures "
            f"(next probe in {self._breaker.retry_in():.0f}s); skipped query {query} "
            f"over {span.describe()}"
        )

    def _query(self, query: str, span: QueryRange) -> list[Any]:
        """One range query through the breaker and the retry layer; translated errors only."""

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

        return self._breaker.call(
            lambda: retry_call(
                attempt,
                settings=self._settings.retry,
                name="prometheus.query_range",
                sleep=self._sleep,
            )
        )

    def _collect(
        self, query: str, span: QueryRange, result: list[Any], keys: frozenset[str]
    ) -> _Answer:
        """Keep the watched workloads' series; count duplicates and dropped NaN/Inf samples."""
        answer = _Answer(query, span)
        for item in result:
            if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
                continue
            key = _workload_key(item["metric"])
            if key is None or key not in keys:
                continue
            points, dropped = parse_values(item.get("values") or [])
            answer.copies[key] = answer.copies.get(key, 0) + 1
            answer.dropped[key] = answer.dropped.get(key, 0) + dropped
            answer.series[key] = points
        return answer

    def _window(self, ref: WorkloadRef, signal: Signal, answer: _Answer, at: float) -> SignalWindow:
        """The window of one (workload, signal); health and message say why it is not ok."""
        data = self._store.data((ref.key, signal))
        health, message = _judge(ref.key, answer)
        return SignalWindow(ref, signal, f"{SOURCE}:{signal.value}", at, data, health, message)

    # -- HealthReporter -----------------------------------------------------------------

    def _note_tick(self, answers: Mapping[Signal, _Answer], now: datetime) -> None:
        errors = [answer.error for answer in answers.values() if answer.error is not None]
        if errors:
            self._last_error = (now, errors[0])
        else:
            self._last_success = now

    def health(self, now: datetime) -> SourceHealth:
        """Ok while the last tick in which every query succeeded is younger than stale_after."""
        last = self._last_success
        age = None if last is None else (now - last).total_seconds()
        ok = age is not None and age <= self._stale_after
        parts = ["no successful tick yet" if age is None else f"last full tick {age:.0f}s ago"]
        state = self._breaker.state
        if state is not BreakerState.CLOSED:
            parts.append(f"circuit {state.value}")
        if self._last_error is not None:
            when, message = self._last_error
            parts.append(f"last error at {when.isoformat()}: {message}")
        return SourceHealth(source=SOURCE, ok=ok, last_success=last, detail="; ".join(parts))

    # -- raw values and capture ---------------------------------------------------------

    def latest_raw(self, signal: Signal) -> dict[str, Point]:
        """Newest (timestamp, value) per workload from the last successful query of ``signal``.

        Exactly what Prometheus answered (no clamping, no unit fixing), so that the fleet
        guard can see a simultaneous step change such as latency x1000 (CH-09).
        """
        return dict(self._latest.get(signal, {}))

    def fetch_range(
        self,
        workloads: Sequence[WorkloadRef],
        start: datetime,
        end: datetime,
        step: timedelta,
        *,
        max_points: int = MAX_POINTS_PER_QUERY,
    ) -> dict[tuple[str, Signal], list[tuple[float, float]]]:
        """All finite samples of every signal over [start, end] for ``aiops capture``.

        Long ranges are split so that no query exceeds ``max_points`` steps. Unlike
        ``observe``, a failed query raises (TemporaryError / PermanentError): a capture with
        silently missing signals would mislead every later replay.
        """
        refs = list({ref.key: ref for ref in workloads}.values())
        seconds = step.total_seconds()
        if not refs or seconds <= 0 or end <= start:
            return {}
        keys = frozenset(ref.key for ref in refs)
        values = placeholder_values(self._settings, refs)
        found: dict[tuple[str, Signal], list[Point]] = {}
        for signal, template in self._templates.items():
            query = fill(template, values)
            for span in _chunks(epoch(start), epoch(end), seconds, max(2, max_points)):
                for key, points in self._fetch_or_raise(query, span, keys).items():
                    found.setdefault((key, signal), []).extend(points)
        return {key: sorted(points) for key, points in found.items() if points}

    def discover(
        self, namespaces: Sequence[str], start: datetime, end: datetime
    ) -> tuple[WorkloadRef, ...]:
        """Workloads of ``namespaces`` that report available replicas in [start, end].

        For ``aiops capture`` without a cluster connection: the replicas template is run with
        a match-all workload regex (the namespaces still bound it), and the answer's labels
        name the workloads. Raises like ``fetch_range``.
        """
        if not namespaces:
            raise ValueError("no namespace to discover in: an empty selector matches everything")
        values = {
            "namespace_regex": regex_alternation(namespaces),
            "workload_regex": ".+",
            "rate_window": rate_window(self._settings.step),
        }
        query = fill(self._templates[Signal.REPLICAS_AVAILABLE], values)
        width = epoch(end) - epoch(start)
        span = QueryRange(epoch(start), epoch(end), max(self._step, math.ceil(width / 100)))
        result = self._query_or_raise(query, span)
        found: set[tuple[str, str]] = set()
        for item in result:
            key = _workload_key(item.get("metric", {})) if isinstance(item, dict) else None
            if key is not None:
                namespace, name = key.split("/", 1)
                found.add((namespace, name))
        return tuple(WorkloadRef(namespace=n, name=w) for n, w in sorted(found))

    def _fetch_or_raise(
        self, query: str, span: QueryRange, keys: frozenset[str]
    ) -> dict[str, list[Point]]:
        result = self._query_or_raise(query, span)
        return self._collect(query, span, result, keys).series

    def _query_or_raise(self, query: str, span: QueryRange) -> list[Any]:
        """``_query`` whose errors name the query and the range (kept temporary or not)."""
        try:
            return self._query(query, span)
        except TemporaryError as exc:
            message = f"query {query} over {span.describe()} failed: {exc}"
            raise TemporaryError(message, delay=exc.delay) from exc
        except PermanentError as exc:
            raise PermanentError(f"query {query} over {span.describe()} failed: {exc}") from exc


def _chunks(start: float, end: float, step: float, points: int) -> list[QueryRange]:
    """Consecutive, non-overlapping ranges of at most ``points`` steps each."""
    width = step * (points - 1)
    spans: list[QueryRange] = []
    at = start
    while at <= end:
        spans.append(QueryRange(at, min(at + width, end), step))
        at += width + step
    return spans


def _judge(key: str, answer: _Answer) -> tuple[Health, str]:
    """Health of one workload's window from its signal's answer in this tick."""
    where = f"over {answer.span.describe()}"
    if answer.error is not None:
        return Health.ERROR, answer.error
    copies = answer.copies.get(key, 0)
    if copies == 0:
        return Health.NO_DATA, f"query {answer.query} returned no series for {key} {where}"
    if copies > 1:
        return Health.ERROR, (
            f"query {answer.query} returned {copies} series for {key} {where}; "
            "a template must return one series per (namespace, workload)"
        )
    if not answer.series.get(key):
        dropped = answer.dropped.get(key, 0)
        return Health.NO_DATA, (
            f"query {answer.query} returned only NaN/Inf samples ({dropped}) for {key} {where}"
        )
    return Health.OK, ""
