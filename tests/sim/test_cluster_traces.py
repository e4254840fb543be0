"""The simulator's spans, sent by the real OpenTelemetry SDK, reach the real OTLP receiver
with the call graph of the scenario and the model's error ratios and latencies."""

from __future__ import annotations

import time

import pytest

from controller.models.traces import TraceSnapshot, TraceStats
from controller.observers.traces import TraceReceiver
from controller.settings import TracesSettings
from controller.sim.cluster import SimulationRunner, model
from controller.sim.fakes import SimulatedClock
from controller.sim.kube_api import FakeKubeApi
from controller.sim.kube_api.store import utc_now
from tests.sim.helpers import scenario, workload

TRACES = 300


def _service(snapshot: TraceSnapshot, name: str) -> TraceStats:
    return next(s.stats for s in snapshot.services if s.service == name)


def _edge(snapshot: TraceSnapshot, caller: str, callee: str) -> TraceStats:
    return next(e.stats for e in snapshot.edges if (e.caller, e.callee) == (caller, callee))


def test_the_receiver_gets_the_call_graph_with_the_models_errors_and_latency(
    api: FakeKubeApi,
) -> None:
    clock = SimulatedClock(utc_now())
    receiver = TraceReceiver(TracesSettings(host="127.0.0.1", port=0), clock=clock)
    receiver.start()
    frontend = workload("frontend", load_rps=400, capacity_rps=400, calls=("checkout",))
    checkout = workload("checkout", capacity_rps=300, calls=("payments",))
    payments = workload("payments", error_ratio=0.4, capacity_rps=500)
    runner = SimulationRunner(
        api, scenario(frontend, checkout, payments, seed=7), tick=0.05,
        otlp_endpoint=receiver.endpoint, trace_sample_ratio=0.5, max_lifetime=30,
    )  # fmt: skip
    try:
        with runner:
            deadline = time.monotonic() + 20
            assert runner.spans is not None
            while runner.spans.emitted < TRACES and time.monotonic() < deadline:
                time.sleep(0.05)
            assert runner.spans.emitted >= TRACES
            assert runner.spans.flush(10)
            rates = {k: runner.cluster.rates(k) for k in ("shop/checkout", "shop/payments")}
        snapshot = receiver.snapshot(clock.now())
    finally:
        receiver.stop()

    assert runner.errors == []
    assert {s.service for s in snapshot.services} == {"frontend", "checkout", "payments"}
    assert {(e.caller, e.callee) for e in snapshot.edges} == {
        ("frontend", "checkout"), ("checkout", "payments")}  # fmt: skip
    emitted = runner.spans.emitted
    for name in ("frontend", "checkout", "payments"):
        assert _service(snapshot, name).spans == emitted, name  # one span per hop per trace
    assert snapshot.dropped_spans == 0

    pay = _service(snapshot, "payments")
    assert pay.error_ratio == pytest.approx(0.4, abs=0.1)
    assert _edge(snapshot, "checkout", "payments").errors == pay.errors
    assert _service(snapshot, "checkout").error_ratio == pytest.approx(0.001, abs=0.02)

    spec = checkout
    p50 = model.latency_quantile(spec, rates["shop/checkout"].utilisation, 0.5)
    observed = _service(snapshot, "checkout").latency_p50_seconds
    assert observed == pytest.approx(p50, rel=0.25)
