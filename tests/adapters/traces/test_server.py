"""The receiver's lifecycle, and its clock: spans count when received, the window slides."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest
from opentelemetry.trace import SpanKind

from controller.errors import PermanentError
from controller.observers.traces import TraceReceiver
from controller.ports import HealthReporter, TraceSource
from controller.settings import TracesSettings
from controller.sim.fakes import SimulatedClock
from tests.adapters.traces.conftest import ReceiverFactory
from tests.adapters.traces.otel import T0, Fleet


def test_port_zero_binds_a_free_port_and_stop_closes_it(clock: SimulatedClock) -> None:
    receiver = TraceReceiver(TracesSettings(host="127.0.0.1", port=0), clock=clock)
    with pytest.raises(RuntimeError, match="not started"):
        _ = receiver.port

    with receiver:
        port = receiver.port
        assert port > 0
        assert receiver.endpoint == f"http://127.0.0.1:{port}/v1/traces"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_a_port_in_use_fails_start(clock: SimulatedClock) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        settings = TracesSettings(host="127.0.0.1", port=taken.getsockname()[1])
        receiver = TraceReceiver(settings, clock=clock)
        with pytest.raises(PermanentError, match="cannot listen on 127.0.0.1"):
            receiver.start()


def test_it_is_a_trace_source_and_a_health_reporter(receiver: TraceReceiver) -> None:
    source: TraceSource = receiver
    reporter: HealthReporter = receiver
    assert source.snapshot(T0).services == ()
    assert reporter.health(T0).detail == "no trace export received yet"


def _export(receiver: TraceReceiver, service: str, count: int) -> None:
    fleet = Fleet.otlp(receiver.endpoint)
    try:
        tracer = fleet.tracer(service)
        for _ in range(count):
            tracer.start_span("GET /", kind=SpanKind.SERVER).end()
    finally:
        fleet.shutdown()


def test_spans_count_when_received_and_leave_with_the_window(
    start_receiver: ReceiverFactory, clock: SimulatedClock
) -> None:
    receiver = start_receiver(window="60s", bucket="10s")
    _export(receiver, "api", 3)
    clock.set(T0 + timedelta(seconds=40))
    _export(receiver, "api", 2)

    def spans() -> int:
        return sum(s.stats.spans for s in receiver.snapshot(clock.now()).services)

    assert spans() == 5
    clock.set(T0 + timedelta(seconds=70))
    assert spans() == 2
    assert receiver.health(clock.now()).ok
    clock.set(T0 + timedelta(seconds=110))
    assert spans() == 0
    clock.set(T0 + timedelta(minutes=6))
    assert not receiver.health(clock.now()).ok  # default stale_after: 5 minutes
