"""Sliding-window span statistics per service and per call edge, bounded in every dimension.

Spans land in time buckets (``settings.bucket``) per key: a service (its SERVER and CONSUMER
spans) or an edge caller -> callee (the caller's CLIENT and PRODUCER spans). A bucket keeps a
span count, an error count and a log-scale latency histogram, so a window is the sum of its
buckets. Memory is bounded: at most ``max_services`` service keys and ``max_edges`` edge keys
(new keys beyond are dropped and counted), buckets older than the retention (the window, for
the live receiver) are discarded, and the client/server join holds at most
``max_pending_spans`` spans per side. Every span that does not make it into the statistics is
counted by reason in ``dropped()``.

Live, a span counts at the moment it is received (the controller asks "what is happening
now", and senders' clocks are not trusted); an offline dump counts each span at its own end
time (``by_end_time``).
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from controller.errors import ConfigError
from controller.models.incident_file import MAX_POINTS_PER_SERIES, TraceSeries
from controller.models.modes import SourceHealth
from controller.models.traces import EdgeStats, ServiceStats, TraceSnapshot, TraceStats
from controller.observers.traces.decode import Kind, SpanRecord
from controller.observers.traces.histogram import LogHistogram, merged
from controller.observers.traces.join import CallJoiner, PendingCall, ServerSide
from controller.ports import Clock
from controller.settings import TracesSettings

DEFAULT_STALE_AFTER = timedelta(minutes=5)
SOURCE = "traces"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SERVER_KINDS = frozenset({Kind.SERVER, Kind.CONSUMER})

K = TypeVar("K", str, tuple[str, str])


class Drop:
    """Reasons a span is not in the statistics (the keys of ``dropped()``)."""

    NO_SERVICE_NAME = "no_service_name"
    INVALID_SPAN = "invalid_span"
    SERVICE_LIMIT = "service_limit"
    EDGE_LIMIT = "edge_limit"
    OUTSIDE_WINDOW = "outside_window"
    PENDING_EVICTED = "pending_evicted"
    PENDING_EXPIRED = "pending_expired"
    SELF_CALL = "self_call"


def _nanos(when: datetime) -> int:
    """Exact nanoseconds since the epoch (float seconds would blur bucket boundaries)."""
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


@dataclass(slots=True)
class _Cell:
    """One key's spans in one bucket."""

    spans: int = 0
    errors: int = 0
    latency: LogHistogram = field(default_factory=LogHistogram)

    def add(self, seconds: float, error: bool) -> None:
        self.spans += 1
        self.errors += int(error)
        self.latency.add(seconds)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of one export's spans: ``rejected`` by reason (for partial success)."""

    accepted: int
    rejected: Mapping[str, int]

    @property
    def rejected_count(self) -> int:
        """Total spans rejected."""
        return sum(self.rejected.values())


def _stats(cells: Iterable[_Cell], seconds: float) -> TraceStats:
    """Sum buckets into statistics over ``seconds`` (p50/p99 within the histogram's error)."""
    cells = list(cells)
    spans = sum(c.spans for c in cells)
    errors = sum(c.errors for c in cells)
    latency = merged(c.latency for c in cells)
    return TraceStats(
        spans=spans,
        errors=errors,
        rate=spans / seconds,
        error_ratio=errors / spans if spans else None,
        latency_p50_seconds=latency.quantile(0.5),
        latency_p99_seconds=latency.quantile(0.99),
    )


class _Keyed(dict[K, dict[int, _Cell]]):
    """Buckets per key with a cap on the number of keys."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def cell(self, key: K, bucket: int) -> _Cell | None:
        """The cell to add to, or None when ``key`` is new and the cap is reached."""
        buckets = self.get(key)
        if buckets is None:
            if len(self) >= self.limit:
                return None
            buckets = self[key] = {}
        return buckets.setdefault(bucket, _Cell())

    def prune(self, horizon: int) -> None:
        """Discard buckets at or before ``horizon`` and keys left without buckets."""
        for key in list(self):
            buckets = self[key]
            for bucket in [b for b in buckets if b <= horizon]:
                del buckets[bucket]
            if not buckets:
                del self[key]

    def window(self, key: K, first: int, last: int) -> list[_Cell]:
        """Cells of ``key`` in buckets ``first..last``."""
        return [cell for b, cell in self[key].items() if first <= b <= last]


class TraceAggregator:
    """TraceSource and HealthReporter over received spans; every method is thread-safe."""

    def __init__(
        self,
        settings: TracesSettings,
        clock: Clock,
        *,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        retention: timedelta | None = None,
        observed_since: datetime | None = None,
    ) -> None:
        """``retention`` (default: the window) is how long buckets are kept; a point of
        ``history`` before ``observed_since`` (default: now) is a gap, not a zero."""
        window, bucket = settings.window, settings.bucket
        if bucket <= timedelta(0) or window < bucket:
            raise ConfigError("settings", "traces.bucket", "must be positive and <= traces.window")
        self._clock = clock
        self._stale_after = stale_after
        self._bucket_ns = _nanos(_EPOCH + bucket)
        self._window = window
        self._window_buckets = math.ceil(window / bucket)
        self._retention_buckets = max(
            self._window_buckets, math.ceil((retention or window) / bucket)
        )
        since = _nanos(observed_since or clock.now())
        self._first_full = -(-since // self._bucket_ns)
        self._services: _Keyed[str] = _Keyed(settings.max_services)
        self._edges: _Keyed[tuple[str, str]] = _Keyed(settings.max_edges)
        self._names: OrderedDict[str, None] = OrderedDict()
        self._name_limit = settings.max_services
        self._joiner = CallJoiner(settings.max_pending_spans)
        self._dropped: Counter[str] = Counter()
        self._rejected_requests: Counter[str] = Counter()
        self._accepted = 0
        self._last_received: datetime | None = None
        self._latest = self._bucket_of(clock.now())
        self._lock = threading.Lock()

    # ---- ingestion -------------------------------------------------------------------------

    def ingest(
        self, spans: Sequence[SpanRecord], *, now: datetime | None = None, by_end_time: bool = False
    ) -> IngestResult:
        """Add one export's spans received at ``now`` (default: the clock) and return what was
        rejected; with ``by_end_time`` each span counts at its own end time instead."""
        received = now or self._clock.now()
        with self._lock:
            arrival = self._bucket_of(received)
            self._advance(arrival)
            rejected: Counter[str] = Counter()
            for span in spans:
                bucket = span.end_ns // self._bucket_ns if by_end_time else arrival
                reason = self._add(span, bucket)
                if reason is not None:
                    rejected[reason] += 1
            self._dropped.update(rejected)
            accepted = len(spans) - sum(rejected.values())
            self._accepted += accepted
            self._last_received = max(received, self._last_received or received)
            return IngestResult(accepted, dict(rejected))

    def _bucket_of(self, when: datetime) -> int:
        return _nanos(when) // self._bucket_ns

    def _add(self, span: SpanRecord, bucket: int) -> str | None:
        """Record one span; the reason when it is rejected now (later losses are counted
        directly in ``_dropped``)."""
        if span.service is None:
            return Drop.NO_SERVICE_NAME
        if not span.valid:
            return Drop.INVALID_SPAN
        if not self._latest - self._retention_buckets < bucket <= self._latest:
            return Drop.OUTSIDE_WINDOW
        self._note_name(span.service)
        if span.kind in _SERVER_KINDS:
            return self._add_server(span, span.service, bucket)
        return self._add_client(span, span.service, bucket)

    def _note_name(self, service: str) -> None:
        """Remember service names (bounded, most recent kept) to map addresses to them."""
        self._names[service] = None
        self._names.move_to_end(service)
        if len(self._names) > self._name_limit:
            self._names.popitem(last=False)

    def _add_server(self, span: SpanRecord, service: str, bucket: int) -> str | None:
        if any(span.parent_span_id):  # a root span (no or all-zero parent) answers no call
            key = span.trace_id + span.parent_span_id
            call = self._joiner.server(key, ServerSide(service, bucket))
            if call is not None:
                self._count(self._joined_edge(call, service))
        cell = self._services.cell(service, bucket)
        if cell is None:
            return Drop.SERVICE_LIMIT
        cell.add(span.duration_seconds, span.error)
        return None

    def _add_client(self, span: SpanRecord, caller: str, bucket: int) -> str | None:
        call = PendingCall(caller, bucket, span.duration_seconds, span.error)
        callee = self._named_callee(span, caller)
        if callee is not None:
            return self._add_edge(caller, callee, call)
        evicted = self._joiner.evicted
        server = self._joiner.client(span.trace_id + span.span_id, call)
        self._dropped[Drop.PENDING_EVICTED] += self._joiner.evicted - evicted
        if server is not None:
            return self._joined_edge(call, server.service)
        return None

    def _named_callee(self, span: SpanRecord, caller: str) -> str | None:
        """peer.service, else server.address / net.peer.name when it names a known service
        (exactly, or by its first DNS label as in ``checkout.shop.svc.cluster.local``)."""
        if span.peer_service is not None:
            return span.peer_service
        address = span.server_address
        if address is None:
            return None
        for candidate in (address, address.split(".", 1)[0]):
            if candidate in self._names and candidate != caller:
                return candidate
        return None

    def _joined_edge(self, call: PendingCall, callee: str) -> str | None:
        """A join only names *another* service; a late call may have left the retention."""
        if callee == call.caller:
            return Drop.SELF_CALL
        if call.bucket <= self._latest - self._retention_buckets:
            return Drop.PENDING_EXPIRED
        return self._add_edge(call.caller, callee, call)

    def _add_edge(self, caller: str, callee: str, call: PendingCall) -> str | None:
        cell = self._edges.cell((caller, callee), call.bucket)
        if cell is None:
            return Drop.EDGE_LIMIT
        cell.add(call.seconds, call.error)
        return None

    def _count(self, reason: str | None) -> None:
        """Count a loss that happens after its span's export was answered."""
        if reason is not None:
            self._dropped[reason] += 1

    def _advance(self, bucket: int) -> None:
        """Move "now" forward (never back) and discard what falls out of the retention."""
        if bucket <= self._latest:
            return
        self._latest = bucket
        horizon = bucket - self._retention_buckets
        self._services.prune(horizon)
        self._edges.prune(horizon)
        self._dropped[Drop.PENDING_EXPIRED] += self._joiner.expire(horizon)

    # ---- reading ---------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> TraceSnapshot:
        """Statistics over the window ending at ``now`` (the buckets overlapping it)."""
        with self._lock:
            self._advance(self._bucket_of(now))
            last = self._bucket_of(now)
            first = last - self._window_buckets + 1
            seconds = self._window.total_seconds()
            services = [
                ServiceStats(service=name, stats=_stats(cells, seconds))
                for name, cells in self._in_window(self._services, first, last)
            ]
            edges = [
                EdgeStats(caller=caller, callee=callee, stats=_stats(cells, seconds))
                for (caller, callee), cells in self._in_window(self._edges, first, last)
            ]
            return TraceSnapshot(
                at=now,
                window_seconds=seconds,
                services=tuple(services),
                edges=tuple(edges),
                last_received=self._last_received,
                dropped_spans=sum(self._dropped.values()),
            )

    @staticmethod
    def _in_window(keyed: _Keyed[K], first: int, last: int) -> Iterator[tuple[K, list[_Cell]]]:
        """Keys with at least one span in buckets ``first..last``, sorted."""
        for key in sorted(keyed):
            cells = keyed.window(key, first, last)
            if any(cell.spans for cell in cells):
                yield key, cells

    def history(
        self, start: datetime, end: datetime, step: timedelta | None = None
    ) -> tuple[TraceSeries, ...]:
        """Per-service (caller None) then per-edge series at the bucket boundaries in
        ``[start, end]``, one point per ``step`` (default and minimum: one bucket, rounded
        to whole buckets); each point covers the step ending at its timestamp. A point not
        fully observed (before ``observed_since``, discarded, or not over yet) is None."""
        size = max(1, round((step or timedelta(0)) / self._bucket_delta))
        with self._lock:
            self._advance(self._bucket_of(self._clock.now()))
            ends = self._boundaries(start, end, size)
            covered = range(ends[0] - size, ends[-1]) if ends else range(0)
            out = [
                self._series(None, name, cells, ends, size)
                for name, cells in sorted(self._services.items())
                if any(b in covered for b in cells)
            ]
            out += [
                self._series(caller, callee, cells, ends, size)
                for (caller, callee), cells in sorted(self._edges.items())
                if any(b in covered for b in cells)
            ]
        return tuple(out)

    @property
    def _bucket_delta(self) -> timedelta:
        return timedelta(microseconds=self._bucket_ns // 1000)

    def _boundaries(self, start: datetime, end: datetime, size: int) -> range:
        first = -(-_nanos(start) // self._bucket_ns)
        last = _nanos(end) // self._bucket_ns
        points = range(first, last + 1, size)
        if len(points) > MAX_POINTS_PER_SERIES:
            raise ValueError(
                f"{len(points)} points exceed {MAX_POINTS_PER_SERIES}: use a larger step"
            )
        return points

    def _observed(self, end: int, size: int) -> bool:
        """Whether buckets ``end - size .. end - 1`` were all watched and are still kept."""
        begin = end - size
        return (
            begin >= self._first_full
            and begin > self._latest - self._retention_buckets
            and end <= self._latest
        )

    def _series(
        self, caller: str | None, callee: str, cells: dict[int, _Cell], ends: range, size: int
    ) -> TraceSeries:
        seconds = size * self._bucket_ns / 1e9
        stats: list[TraceStats | None] = [
            _stats((cells[b] for b in range(end - size, end) if b in cells), seconds)
            if self._observed(end, size)
            else None
            for end in ends
        ]
        return TraceSeries(
            caller=caller,
            callee=callee,
            timestamps=tuple(end * self._bucket_ns / 1e9 for end in ends),
            rate=tuple(None if s is None else s.rate for s in stats),
            error_ratio=tuple(None if s is None else s.error_ratio for s in stats),
            latency_p50_seconds=tuple(None if s is None else s.latency_p50_seconds for s in stats),
            latency_p99_seconds=tuple(None if s is None else s.latency_p99_seconds for s in stats),
        )

    def health(self, now: datetime) -> SourceHealth:
        """OK while the last export is at most ``stale_after`` old; never received is not OK."""
        with self._lock:
            last = self._last_received
        if last is None:
            return SourceHealth(source=SOURCE, ok=False, detail="no trace export received yet")
        age = (now - last).total_seconds()
        if age > self._stale_after.total_seconds():
            limit = self._stale_after.total_seconds()
            detail = f"no trace export for {age:.0f}s (stale after {limit:.0f}s)"
            return SourceHealth(source=SOURCE, ok=False, last_success=last, detail=detail)
        return SourceHealth(source=SOURCE, ok=True, last_success=last)

    def dropped(self) -> dict[str, int]:
        """Spans lost so far, by reason (see ``Drop``); cumulative since start."""
        with self._lock:
            return {reason: count for reason, count in sorted(self._dropped.items()) if count}

    def note_rejected_request(self, reason: str) -> None:
        """Count a whole export refused before aggregation (bad body, too large, ...)."""
        with self._lock:
            self._rejected_requests[reason] += 1

    def rejected_requests(self) -> dict[str, int]:
        """Whole exports refused so far, by reason; their spans are in no other counter."""
        with self._lock:
            return dict(sorted(self._rejected_requests.items()))

    @property
    def accepted(self) -> int:
        """Spans accepted so far (a pending client span counts as accepted)."""
        with self._lock:
            return self._accepted

    @property
    def pending_joins(self) -> int:
        """Client spans currently waiting to learn their callee."""
        with self._lock:
            return self._joiner.pending
