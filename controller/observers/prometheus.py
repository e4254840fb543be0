"""The live metrics observer: batched, incremental PromQL range queries against Prometheus.

Per tick it sends ONE range query per signal for every watched workload (the cost does not
grow with the fleet), refetching only the tail since the last evaluated step, and serves
SignalWindows from a rolling store. Failures are data: a failed query marks that signal's
windows ``error`` with the exact query, range and backend message; a workload absent from a
successful answer gets ``no_data``; NaN and infinite samples become gaps. Values are reported
as Prometheus returns them (no clamping), so a fleet-wide unit change stays visible (CH-09).

A tick (``observe``) moves the watched set, the cursors and the store on; a point read
(``read``, the planner's look at its target) leaves them as they were. The HTTP boundary
(client, one query through breaker and retries, SDK error translation) is
``observers.prometheus_http``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from controller.errors import ConfigError, PermanentError, TemporaryError
from controller.models.base import epoch
from controller.models.modes import SourceHealth
from controller.models.signals import Health, SeriesData, Signal, SignalWindow, window_at
from controller.models.workloads import WorkloadRef
from controller.observers.prometheus_http import (
    PrometheusConnect,
    QueryRange,
    RangeQuerier,
    aligned,
    build_client,
)
from controller.observers.queries import (
    SETTINGS_SOURCE,
    fill,
    placeholder_values,
    rate_window,
    regex_alternation,
    templates,
)
from controller.observers.series_store import Point, SeriesStore, parse_values
from controller.resilience import BreakerState, CircuitBreaker, CircuitOpenError
from controller.settings import PrometheusSettings

SOURCE = "prometheus"
MAX_POINTS_PER_QUERY = 10_000
"""Prometheus refuses range queries over 11,000 points per series; capture chunks below it."""

log = structlog.get_logger(__name__)


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


# -- answers, cursors, the last tick -----------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class _Tick:
    """The last fleet tick: when it evaluated, and the windows it returned (immutable)."""

    at: float
    windows: Mapping[str, Mapping[Signal, SignalWindow]]


def _unique(workloads: Sequence[WorkloadRef]) -> list[WorkloadRef]:
    return list({ref.key: ref for ref in workloads}.values())


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
        self._settings = settings
        self._templates = templates(settings)
        self._step = settings.step.total_seconds()
        if self._step <= 0:
            raise ConfigError(SETTINGS_SOURCE, "prometheus.step", "must be positive")
        self._lookback = settings.lookback.total_seconds()
        self._stale_after = stale_after.total_seconds()
        self._http = RangeQuerier(
            client, settings, breaker or CircuitBreaker(settings.breaker, clock), sleep
        )
        self._store = SeriesStore(self._lookback)
        self._cursors: dict[Signal, _Cursor] = {}
        self._latest: dict[Signal, dict[str, Point]] = {}
        self._tick: _Tick | None = None
        self._last_success: datetime | None = None
        self._last_error: tuple[datetime, str] | None = None
        self._lock = threading.Lock()
        """``observe`` (the loop's tick) and ``read`` (the planner thread) share the store
        and cursors: one at a time."""

    def close(self) -> None:
        """Release the HTTP connection pool (on shutdown)."""
        self._http.close()

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker guarding this Prometheus (its state feeds health details)."""
        return self._http.breaker

    # -- MetricsSource --------------------------------------------------------------------

    def observe(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """Every signal's window for each workload at ``now``; never raises for backend faults.

        A fleet tick: ``workloads`` become the watched set (the store forgets the others) and
        the cursors, raw values and health move on. A look at a few workloads is ``read``.
        """
        with self._lock:
            return self._observe(workloads, now)

    def _observe(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        refs = _unique(workloads)
        if not refs:
            return {}
        at = epoch(now)
        keys = frozenset(ref.key for ref in refs)
        self._store.forget(set(keys))
        # A cursor vouches only for series still stored: a workload dropped and re-added
        # is backfilled, even when its signal's last query failed.
        self._cursors = {
            s: _Cursor(c.watermark, c.covered & keys) for s, c in self._cursors.items()
        }
        values = placeholder_values(self._settings, refs)
        answers = {
            signal: self._fetch_tail(signal, fill(template, values), keys, at)
            for signal, template in self._templates.items()
        }
        self._store.trim(at)
        self._note_tick(answers, now)
        windows = {
            ref.key: {
                signal: _window(ref, signal, answer, at, self._store.data((ref.key, signal)))
                for signal, answer in answers.items()
            }
            for ref in refs
        }
        self._tick = _Tick(at, windows)
        return windows

    def read(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """A point read of ``workloads`` at ``now``; never raises for backend faults.

        Leaves the watched set, the cursors, the stored series, the raw values and health
        untouched, so the next tick costs and shows what it would have without this read.

        A workload the last tick returned is served from that tick, re-stamped at ``now``,
        while ``now`` falls in the tick's evaluation step: ranges start on a multiple of
        ``step``, so a query now would evaluate exactly the same steps and could only repeat
        the answer. The others cost one range query per signal for just them: the tail since
        the signal's cursor laid over a copy of the stored history when every one of them is
        watched, else the whole lookback.
        """
        with self._lock:
            return self._read(workloads, now)

    def _read(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        refs = _unique(workloads)
        found = self._from_tick(refs, now)
        rest = [ref for ref in refs if ref.key not in found]
        if rest:
            found.update(self._read_fresh(rest, epoch(now)))
        return {ref.key: found[ref.key] for ref in refs}

    def _from_tick(
        self, refs: Sequence[WorkloadRef], now: datetime
    ) -> dict[str, Mapping[Signal, SignalWindow]]:
        """The last tick's windows of ``refs`` seen at ``now``, when ``now`` is in its step."""
        tick, at = self._tick, epoch(now)
        if tick is None or at < tick.at or aligned(at, self._step) != aligned(tick.at, self._step):
            return {}
        return {
            ref.key: {signal: window_at(w, now) for signal, w in tick.windows[ref.key].items()}
            for ref in refs
            if ref.key in tick.windows
        }

    def _read_fresh(
        self, refs: Sequence[WorkloadRef], at: float
    ) -> dict[str, Mapping[Signal, SignalWindow]]:
        """One query per signal for ``refs``, laid over copies of what the store holds."""
        keys = frozenset(ref.key for ref in refs)
        values = placeholder_values(self._settings, refs)
        found: dict[str, dict[Signal, SignalWindow]] = {ref.key: {} for ref in refs}
        for signal, template in self._templates.items():
            span = self._tail(signal, keys, at)
            answer = self._ask(fill(template, values), span, keys)
            if answer.error is not None:
                log.info("prometheus read failed", signal=signal.value, error=answer.error)
            for ref in refs:
                key = (ref.key, signal)
                fetched = answer.series.get(ref.key, [])
                data = (
                    self._store.data(key)
                    if answer.error is not None
                    else self._store.merged(key, span.start, span.end, fetched)
                )
                found[ref.key][signal] = _window(ref, signal, answer, at, data)
        return dict(found)

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
            result = self._http.query(query, span)
        except CircuitOpenError:
            return _Answer(query, span, error=self._http.circuit_message(query, span))
        except (TemporaryError, PermanentError) as exc:
            return _Answer(query, span, error=f"query {query} over {span.describe()} failed: {exc}")
        return _collect(query, span, result, keys)

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
        state = self.breaker.state
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
        result = self._http.query_or_raise(query, span)
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
        result = self._http.query_or_raise(query, span)
        return _collect(query, span, result, keys).series


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


def _collect(query: str, span: QueryRange, result: list[Any], keys: frozenset[str]) -> _Answer:
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


def _window(
    ref: WorkloadRef, signal: Signal, answer: _Answer, at: float, data: SeriesData
) -> SignalWindow:
    """The window of one (workload, signal); health and message say why it is not ok."""
    health, message = _judge(ref.key, answer)
    return SignalWindow(ref, signal, f"{SOURCE}:{signal.value}", at, data, health, message)
