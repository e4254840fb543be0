"""The real OpenTelemetry SDK and OTLP/HTTP exporter against the real receiver."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.trace import SpanKind

from controller.models.traces import TraceSnapshot, TraceStats
from controller.observers.traces import RELATIVE_ERROR
from controller.sim.fakes import SimulatedClock
from tests.adapters.traces.conftest import ReceiverFactory
from tests.adapters.traces.otel import Expected, Fleet, shop_traffic

REQUESTS = 40
KEYS: list[tuple[str | None, str]] = [
    (None, "frontend"),
    (None, "checkout"),
    (None, "payments"),
    ("frontend", "checkout"),  # joined: the client span names no peer
    ("checkout", "payments"),  # server.address mapped to the known service
    ("frontend", "recommendation"),  # peer.service
]


def _stats(snapshot: TraceSnapshot, key: tuple[str | None, str]) -> TraceStats:
    caller, callee = key
    if caller is None:
        return next(s.stats for s in snapshot.services if s.service == callee)
    return next(e.stats for e in snapshot.edges if (e.caller, e.callee) == key)


def _close(actual: float | None, exact: float) -> bool:
    return actual is not None and abs(actual - exact) <= RELATIVE_ERROR * exact + 1e-12


def _assert_matches(snapshot: TraceSnapshot, expected: Expected) -> None:
    assert {s.service for s in snapshot.services} == {"frontend", "checkout", "payments"}
    assert {(e.caller, e.callee) for e in snapshot.edges} == {k for k in KEYS if k[0]}
    for key in KEYS:
        stats = _stats(snapshot, key)
        count = expected.count(key)
        assert stats.spans == count == REQUESTS, key
        assert stats.errors == expected.errors[key], key
        assert stats.rate == pytest.approx(count / snapshot.window_seconds), key
        assert stats.error_ratio == pytest.approx(expected.errors[key] / count), key
        assert _close(stats.latency_p50_seconds, expected.quantile(key, 0.5)), key
        assert _close(stats.latency_p99_seconds, expected.quantile(key, 0.99)), key


@pytest.mark.parametrize(
    "compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate]
)
def test_shop_traffic_gives_service_and_edge_statistics(
    start_receiver: ReceiverFactory, clock: SimulatedClock, compression: Compression
) -> None:
    receiver = start_receiver()
    fleet = Fleet.otlp(receiver.endpoint, compression)
    try:
        expected = shop_traffic(fleet, REQUESTS)
    finally:
        fleet.shutdown()

    snapshot = receiver.snapshot(clock.now())

    _assert_matches(snapshot, expected)
    assert expected.errors[("checkout", "payments")] == REQUESTS // 4  # on one edge only
    assert _stats(snapshot, ("checkout", "payments")).error_ratio == 0.25
    assert _stats(snapshot, ("frontend", "checkout")).error_ratio == 0.0
    assert snapshot.dropped_spans == 0 and receiver.dropped() == {}
    assert receiver.aggregator.rejected_requests() == {}
    assert receiver.aggregator.pending_joins == 0
    assert snapshot.last_received == clock.now()
    assert receiver.health(clock.now()).ok


def test_concurrent_exports_add_up_exactly(
    start_receiver: ReceiverFactory, clock: SimulatedClock
) -> None:
    receiver = start_receiver()
    threads_count, spans_each = 8, 25
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def client(index: int) -> None:
        fleet = Fleet.otlp(receiver.endpoint)
        try:
            api, caller = fleet.tracer("api"), fleet.tracer(f"client-{index}")
            barrier.wait(timeout=10)
            for _ in range(spans_each):
                api.start_span("GET /", kind=SpanKind.SERVER).end()
                attributes = {"peer.service": "api"}
                caller.start_span("GET api", kind=SpanKind.CLIENT, attributes=attributes).end()
        except BaseException as exc:  # reported below, not swallowed
            failures.append(exc)
        finally:
            fleet.shutdown()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not failures and not any(t.is_alive() for t in threads)
    snapshot = receiver.snapshot(clock.now())
    assert [(s.service, s.stats.spans) for s in snapshot.services] == [
        ("api", threads_count * spans_each)
    ]
    assert sorted((e.caller, e.stats.spans) for e in snapshot.edges) == [
        (f"client-{i}", spans_each) for i in range(threads_count)
    ]
    assert receiver.aggregator.accepted == 2 * threads_count * spans_each
