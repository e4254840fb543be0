"""The live metrics observer: batched, incremental PromQL range queries against Prometheus.

Per tick it sends ONE range query per signal for every watched workload (the cost does not
grow with the fleet), refetching only the tail since the last evaluated step, and serves
SignalWindows from a rolling store. Failures are data: a failed query marks that signal's
windows ``error`` with the query's name, the range and the backend message; a workload absent
from a successful answer gets ``no_data``; NaN and infinite samples become gaps. Values are
reported as Prometheus returns them (no clamping), so a fleet-wide unit change stays visible
(CH-09).

Messages name a query (``error_ratio#3f9a1c2b7d``) instead of quoting its text, which holds
the whole watched set: the text of each name is logged once, when first sent, and kept for
``query_text``. So a window's message has the same bounded size for any fleet, and a tick's
memory grows with the watched set, not with its square.

A tick (``observe``) moves the watched set, the cursors and the store on; a point read
(``read``, the planner's look at its target) leaves them as they were. The HTTP boundary
(POSTed queries, bounded answers, breaker and retries, error translation) is
``observers.prometheus_http``; answers are read in ``observers.prometheus_answers``; capture's
range fetches and discovery are ``observers.prometheus_capture``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from controller.errors import ConfigError, PermanentError, TemporaryError
from controller.models.base import epoch
from controller.models.modes import SourceHealth
from controller.models.signals import Signal, SignalWindow, window_at
from controller.models.workloads import WorkloadRef
from controller.observers import prometheus_capture as capture
from controller.observers.prometheus_answers import (
    SOURCE,
    Answer,
    NamedQuery,
    collect,
    window,
    windows,
)
from controller.observers.prometheus_http import (
    QueryRange,
    RangeQuerier,
    Session,
    aligned,
    build_session,
)
from controller.observers.queries import SETTINGS_SOURCE, fill, placeholder_values, templates
from controller.observers.series_store import NO_SAMPLES, Point, SeriesStore
from controller.resilience import BreakerState, CircuitBreaker, CircuitOpenError
from controller.settings import PrometheusSettings

__all__ = ["SOURCE", "PrometheusMetrics", "build_prometheus_metrics"]

KEPT_QUERIES = 32
"""Query texts kept for ``query_text``: a tick's eight and the latest reads'."""

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
        session=build_session(settings),
        settings=settings,
        stale_after=stale_after,
        clock=clock,
        sleep=sleep,
    )


@dataclass(slots=True)
class _Cursor:
    """How far a signal has been fetched, and for which workloads."""

    watermark: float
    covered: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Tick:
    """The last fleet tick: when it evaluated, and the windows it returned (immutable)."""

    at: float
    windows: Mapping[str, Mapping[Signal, SignalWindow]]


Windows = Mapping[str, Mapping[Signal, SignalWindow]]


def _unique(workloads: Sequence[WorkloadRef]) -> list[WorkloadRef]:
    return list({ref.key: ref for ref in workloads}.values())


class PrometheusMetrics:
    """MetricsSource and HealthReporter over a Prometheus-compatible HTTP API."""

    def __init__(
        self,
        *,
        session: Session,
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
            session, settings, breaker or CircuitBreaker(settings.breaker, clock), sleep
        )
        self._store = SeriesStore(self._lookback)
        self._cursors: dict[Signal, _Cursor] = {}
        self._latest: dict[Signal, dict[str, Point]] = {}
        self._texts: dict[str, str] = {}
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

    def query_text(self, name: str) -> str | None:
        """The PromQL a message's query name stands for, while it is among the latest sent."""
        with self._lock:
            return self._texts.get(name)

    # -- MetricsSource --------------------------------------------------------------------

    def observe(self, workloads: Sequence[WorkloadRef], now: datetime) -> Windows:
        """Every signal's window for each workload at ``now``; never raises for backend faults.

        A fleet tick: ``workloads`` become the watched set (the store forgets the others) and
        the cursors, raw values and health move on. A look at a few workloads is ``read``.
        """
        with self._lock:
            return self._observe(workloads, now)

    def _observe(self, workloads: Sequence[WorkloadRef], now: datetime) -> Windows:
        refs = _unique(workloads)
        if not refs:
            return {}
        at = epoch(now)
        keys = frozenset(ref.key for ref in refs)
        self._store.forget(keys)
        # A cursor vouches only for series still stored: a workload dropped and re-added
        # is backfilled, even when its signal's last query failed.
        self._cursors = {
            s: _Cursor(c.watermark, c.covered & keys) for s, c in self._cursors.items()
        }
        answers = {query.signal: self._fetch_tail(query, keys, at) for query in self._queries(refs)}
        # Answered signals were trimmed as they were replaced: only the failed ones are left.
        self._store.trim(at, [s for s, answer in answers.items() if answer.error is not None])
        self._note_tick(answers, now)
        found = windows(refs, answers, at, self._store.data)
        self._tick = _Tick(at, found)
        return found

    def read(self, workloads: Sequence[WorkloadRef], now: datetime) -> Windows:
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

    def _read(self, workloads: Sequence[WorkloadRef], now: datetime) -> Windows:
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
        found: dict[str, dict[Signal, SignalWindow]] = {ref.key: {} for ref in refs}
        for query in self._queries(refs):
            signal = query.signal
            span = self._tail(signal, keys, at)
            answer = self._ask(query, span, keys)
            if answer.error is not None:
                log.info("prometheus read failed", signal=signal.value, error=answer.error)
            for ref in refs:
                key = (ref.key, signal)
                fetched = answer.series.get(ref.key, NO_SAMPLES)
                data = (
                    self._store.data(key)
                    if answer.error is not None
                    else self._store.merged(key, span.start, span.end, fetched)
                )
                found[ref.key][signal] = window(ref, signal, answer, at, data)
        return dict(found)

    def _queries(self, refs: Sequence[WorkloadRef]) -> list[NamedQuery]:
        """Every signal's query for ``refs``, named; each new text is logged once."""
        values = placeholder_values(self._settings, refs)
        named = [NamedQuery.of(s, fill(t, values)) for s, t in self._templates.items()]
        for query in named:
            if query.name not in self._texts:
                log.info("prometheus query", query_name=query.name, query=query.text)
            self._texts.pop(query.name, None)
            self._texts[query.name] = query.text  # newest last; the oldest go first
        while len(self._texts) > KEPT_QUERIES:
            del self._texts[next(iter(self._texts))]
        return named

    def _tail(self, signal: Signal, keys: frozenset[str], at: float) -> QueryRange:
        """Backfill the whole lookback the first time (or for new workloads), else the tail."""
        start = at - self._lookback
        cursor = self._cursors.get(signal)
        if cursor is not None and keys <= cursor.covered and cursor.watermark - self._step <= at:
            start = max(start, cursor.watermark - self._step)
        return QueryRange(aligned(start, self._step), at, self._step)

    def _fetch_tail(self, query: NamedQuery, keys: frozenset[str], at: float) -> Answer:
        signal = query.signal
        span = self._tail(signal, keys, at)
        answer = self._ask(query, span, keys)
        if answer.error is not None:
            log.info("prometheus query failed", signal=signal.value, error=answer.error)
            return answer
        series = answer.series
        self._store.replace_all(signal, keys, span.start, span.end, series, at)
        self._cursors[signal] = _Cursor(span.last_step, keys)
        self._latest[signal] = {k: p for k, s in series.items() if (p := s.latest()) is not None}
        return answer

    def _ask(self, query: NamedQuery, span: QueryRange, keys: frozenset[str]) -> Answer:
        """Run one range query; every failure comes back as an Answer with ``error`` set."""
        try:
            return collect(query, span, self._http.query(query.text, span), keys)
        except CircuitOpenError:
            message = self._http.circuit_message(query.name, span)
            return Answer(query, span, f"over {span.describe()}", error=message)
        except (TemporaryError, PermanentError) as exc:
            return Answer.failed(query, span, str(exc))

    # -- HealthReporter -----------------------------------------------------------------

    def _note_tick(self, answers: Mapping[Signal, Answer], now: datetime) -> None:
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
        max_points: int = capture.MAX_POINTS_PER_QUERY,
    ) -> dict[tuple[str, Signal], list[tuple[float, float]]]:
        """All finite samples of every signal over [start, end] for ``aiops capture``.

        Long ranges are split so that no query exceeds ``max_points`` steps. Unlike
        ``observe``, a failed query raises (TemporaryError / PermanentError): a capture with
        silently missing signals would mislead every later replay.
        """
        return capture.fetch_range(
            self._http, self._settings, self._templates, workloads, (start, end, step), max_points
        )

    def discover(
        self, namespaces: Sequence[str], start: datetime, end: datetime
    ) -> tuple[WorkloadRef, ...]:
        """Workloads of ``namespaces`` that report available replicas in [start, end].

        For ``aiops capture`` without a cluster connection; raises like ``fetch_range``.
        """
        template = self._templates[Signal.REPLICAS_AVAILABLE]
        return capture.discover(self._http, self._settings, template, namespaces, (start, end))
