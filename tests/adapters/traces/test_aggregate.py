"""The aggregator: limits and their counters, joins, the sliding window, history, health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.errors import ConfigError
from controller.models.incident_file import TraceSeries
from controller.observers.traces import SpanRecord, TraceAggregator
from controller.observers.traces.decode import Kind
from controller.settings import TracesSettings
from controller.sim.fakes import SimulatedClock
from tests.adapters.traces.otel import T0, T0_NS

SERVER, CLIENT = Kind.SERVER, Kind.CLIENT


def span(
    service: str | None,
    kind: Kind,
    span_id: int,
    parent: int = 0,
    *,
    trace: int = 1,
    seconds: float = 0.1,
    error: bool = False,
    peer: str | None = None,
    address: str | None = None,
    end_ns: int = T0_NS,
) -> SpanRecord:
    return SpanRecord(
        service=service,
        kind=kind,
        trace_id=trace.to_bytes(16, "big"),
        span_id=span_id.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        start_ns=end_ns - round(seconds * 1e9),
        end_ns=end_ns,
        error=error,
        peer_service=peer,
        server_address=address,
    )


def aggregator(clock: SimulatedClock, **fields: Any) -> TraceAggregator:
    return TraceAggregator(TracesSettings(**fields), clock)


def edges(agg: TraceAggregator, clock: SimulatedClock) -> dict[tuple[str, str], int]:
    return {(e.caller, e.callee): e.stats.spans for e in agg.snapshot(clock.now()).edges}


def services(agg: TraceAggregator, clock: SimulatedClock) -> dict[str, int]:
    return {s.service: s.stats.spans for s in agg.snapshot(clock.now()).services}


def test_edges_beyond_max_edges_are_dropped_and_counted(clock: SimulatedClock) -> None:
    agg = aggregator(clock, max_edges=2)
    calls = [span("web", CLIENT, i, peer=p) for i, p in enumerate("abcab", start=1)]

    result = agg.ingest(calls + [span("web", CLIENT, 9, peer="d")])

    assert result.rejected == {"edge_limit": 2} and result.accepted == 4
    assert edges(agg, clock) == {("web", "a"): 2, ("web", "b"): 2}
    assert agg.dropped() == {"edge_limit": 2}
    assert agg.snapshot(clock.now()).dropped_spans == 2


def test_services_beyond_max_services_are_dropped_and_counted(clock: SimulatedClock) -> None:
    agg = aggregator(clock, max_services=2)

    result = agg.ingest([span(name, SERVER, i) for i, name in enumerate("abca", start=1)])

    assert result.rejected == {"service_limit": 1}
    assert services(agg, clock) == {"a": 2, "b": 1}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (span(None, SERVER, 1), "no_service_name"),
        (span("a", SERVER, 1, seconds=-1), "invalid_span"),
        (span("a", SERVER, 0), "invalid_span"),
        (
            SpanRecord("a", SERVER, b"\x01" * 24, b"\x01" * 8, b"", 1, 2, False),
            "invalid_span",
        ),
    ],
)
def test_unusable_spans_are_rejected_with_a_reason(
    clock: SimulatedClock, record: SpanRecord, reason: str
) -> None:
    agg = aggregator(clock)
    assert agg.ingest([record]).rejected == {reason: 1}
    assert agg.dropped() == {reason: 1} and services(agg, clock) == {}


def test_a_client_waits_for_its_server_and_the_oldest_waiting_are_evicted(
    clock: SimulatedClock,
) -> None:
    agg = aggregator(clock, max_pending_spans=2)
    clients = [span("web", CLIENT, i, seconds=0.2) for i in (1, 2, 3, 4)]

    assert agg.ingest(clients).rejected == {}  # waiting is not rejecting
    assert agg.pending_joins == 2 and agg.dropped() == {"pending_evicted": 2}

    agg.ingest([span("api", SERVER, 10 + i, parent=i) for i in (1, 2, 3, 4)])

    assert edges(agg, clock) == {("web", "api"): 2}  # only calls 3 and 4 were still waiting
    assert agg.pending_joins == 0
    edge = agg.snapshot(clock.now()).edges[0].stats
    assert edge.latency_p50_seconds == pytest.approx(0.2, rel=0.01)  # the client's duration


def test_a_server_span_arriving_first_names_the_later_client_callee(
    clock: SimulatedClock,
) -> None:
    agg = aggregator(clock)
    agg.ingest([span("api", SERVER, 10, parent=1)])
    agg.ingest([span("web", CLIENT, 1, error=True)])
    assert edges(agg, clock) == {("web", "api"): 1}
    assert agg.snapshot(clock.now()).edges[0].stats.error_ratio == 1.0


def test_a_join_within_one_service_is_not_an_edge(clock: SimulatedClock) -> None:
    agg = aggregator(clock)
    agg.ingest([span("api", CLIENT, 1), span("api", SERVER, 2, parent=1)])
    assert edges(agg, clock) == {} and agg.dropped() == {"self_call": 1}


def test_a_join_across_traces_does_not_match(clock: SimulatedClock) -> None:
    agg = aggregator(clock)
    agg.ingest([span("web", CLIENT, 1, trace=1), span("api", SERVER, 2, parent=1, trace=2)])
    assert edges(agg, clock) == {} and agg.pending_joins == 1


@pytest.mark.parametrize(
    ("address", "callee"),
    [
        ("payments", "payments"),
        ("payments.shop.svc.cluster.local", "payments"),
        ("10.0.0.7", None),
        ("unknown.shop.svc", None),
    ],
)
def test_server_address_names_a_known_service(
    clock: SimulatedClock, address: str, callee: str | None
) -> None:
    agg = aggregator(clock)
    agg.ingest([span("payments", SERVER, 5)])
    agg.ingest([span("checkout", CLIENT, 1, address=address)])
    expected = {} if callee is None else {("checkout", callee): 1}
    assert edges(agg, clock) == expected
    assert agg.pending_joins == (1 if callee is None else 0)


def test_peer_service_wins_over_the_address(clock: SimulatedClock) -> None:
    agg = aggregator(clock)
    agg.ingest([span("payments", SERVER, 5)])
    agg.ingest([span("checkout", CLIENT, 1, peer="fraud", address="payments")])
    assert edges(agg, clock) == {("checkout", "fraud"): 1}


WINDOWED = {"window": "60s", "bucket": "10s"}


def test_the_window_slides_and_old_buckets_disappear(clock: SimulatedClock) -> None:
    agg = aggregator(clock, **WINDOWED)
    agg.ingest([span("api", SERVER, i, error=i == 1) for i in (1, 2, 3)])
    clock.set(T0 + timedelta(seconds=30))
    agg.ingest([span("api", SERVER, i) for i in (4, 5)])

    at_30 = agg.snapshot(clock.now()).services[0].stats
    assert (at_30.spans, at_30.errors) == (5, 1)
    assert at_30.rate == pytest.approx(5 / 60)

    clock.set(T0 + timedelta(seconds=65))  # the T0 bucket left the window
    at_65 = agg.snapshot(clock.now()).services[0].stats
    assert (at_65.spans, at_65.errors, at_65.error_ratio) == (2, 0, 0.0)

    clock.set(T0 + timedelta(seconds=95))
    assert agg.snapshot(clock.now()).services == ()
    assert agg.history(T0, clock.now()) == ()  # discarded, not merely hidden


def test_a_late_join_outside_the_window_is_counted_as_expired(clock: SimulatedClock) -> None:
    agg = aggregator(clock, **WINDOWED)
    agg.ingest([span("web", CLIENT, 1)])
    clock.set(T0 + timedelta(minutes=2))
    agg.ingest([span("api", SERVER, 2, parent=1)])
    assert edges(agg, clock) == {}
    assert agg.dropped() == {"pending_expired": 1} and agg.pending_joins == 0


def test_history_gives_one_point_per_bucket_with_gaps_where_unobserved(
    clock: SimulatedClock,
) -> None:
    agg = aggregator(clock, **WINDOWED)
    clock.set(T0 + timedelta(seconds=5))
    agg.ingest([span("api", SERVER, 1, seconds=0.1), span("api", SERVER, 2, error=True)])
    agg.ingest([span("web", CLIENT, 3, peer="api", seconds=0.3)])
    clock.set(T0 + timedelta(seconds=25))
    agg.ingest([span("api", SERVER, 4, seconds=0.5)])
    clock.set(T0 + timedelta(seconds=40))

    series = agg.history(T0 - timedelta(seconds=10), clock.now())

    service, edge = series
    assert (service.caller, service.callee, edge.caller, edge.callee) == (None, "api", "web", "api")
    t0 = T0.timestamp()
    assert service.timestamps == tuple(t0 + s for s in (-10, 0, 10, 20, 30, 40))
    assert service.rate == (None, None, 0.2, 0.0, 0.1, 0.0)  # before T0: not observed
    assert service.error_ratio == (None, None, 0.5, None, 0.0, None)
    assert service.latency_p99_seconds[4] == pytest.approx(0.5, rel=0.01)
    assert edge.rate == (None, None, 0.1, 0.0, 0.0, 0.0)
    assert edge.latency_p50_seconds[2] == pytest.approx(0.3, rel=0.01)
    for one in series:  # the incident file's model accepts them as they are
        assert TraceSeries.model_validate(one.model_dump(mode="json")) == one


def test_history_with_a_longer_step_sums_buckets(clock: SimulatedClock) -> None:
    agg = aggregator(clock, **WINDOWED)
    for second, span_id in ((5, 1), (15, 2), (25, 3)):
        clock.set(T0 + timedelta(seconds=second))
        agg.ingest([span("api", SERVER, span_id)])
    clock.set(T0 + timedelta(seconds=40))

    (service,) = agg.history(T0 + timedelta(seconds=20), clock.now(), timedelta(seconds=20))

    assert service.timestamps == (T0.timestamp() + 20, T0.timestamp() + 40)
    assert service.rate == (2 / 20, 1 / 20)
    assert agg.history(T0 - timedelta(minutes=5), T0 - timedelta(minutes=4)) == ()  # no span


def test_health_needs_a_recent_export(clock: SimulatedClock) -> None:
    agg = TraceAggregator(TracesSettings(), clock, stale_after=timedelta(minutes=2))
    never = agg.health(clock.now())
    assert (never.source, never.ok, never.detail) == (
        "traces",
        False,
        "no trace export received yet",
    )

    agg.ingest([])  # an empty export still proves the pipeline is alive
    assert agg.health(clock.now() + timedelta(minutes=2)).ok

    stale = agg.health(clock.now() + timedelta(minutes=3))
    assert not stale.ok and stale.last_success == T0 and "180s" in stale.detail


def test_a_bucket_longer_than_the_window_is_a_config_error(clock: SimulatedClock) -> None:
    with pytest.raises(ConfigError, match="traces.bucket"):
        aggregator(clock, window="10s", bucket="1m")
