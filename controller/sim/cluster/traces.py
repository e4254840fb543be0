"""Spans of the simulated call graph, sent by the real OpenTelemetry SDK over OTLP/HTTP.

One ``TracerProvider`` per workload (its ``service.name`` is the workload's name, with the
``k8s.*`` resource attributes a cluster's SDKs set) with a ``BatchSpanProcessor`` and the
real ``OTLPSpanExporter``: the receiver under test decodes exactly what a service would send.
Traces start at the workloads nobody calls (``calls`` of the spec make the graph); each
service's SERVER span lasts a latency drawn from the model's distribution at the current
utilisation and fails with the workload's current error ratio, so the trace statistics agree
with the metrics in distribution. A caller's CLIENT span to a callee lasts as long as the
callee's SERVER span; a caller's own span is not stretched to cover its calls (its duration
is its metric latency), so a slow callee can end after its caller.

Volume: ``sample_ratio`` of the offered requests, at most ``max_traces`` per emission; the
draws come from a seeded ``random.Random``, so a scenario's spans are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

from controller.sim.cluster import model
from controller.sim.cluster.cluster import ClusterView, WorkloadView

NANOS = 1_000_000_000


class SpanEmitter:
    """Turns each stretch of simulated time into sampled traces, exported to ``endpoint``."""

    def __init__(
        self,
        endpoint: str,
        *,
        sample_ratio: float = 0.05,
        max_traces: int = 20,
        seed: int = 0,
        export_delay_ms: int = 200,
    ) -> None:
        self.endpoint = endpoint
        self.sample_ratio = sample_ratio
        self.max_traces = max_traces
        self.emitted = 0
        self._random = random.Random(seed)
        self._delay = export_delay_ms
        self._owed: dict[str, float] = {}
        self._providers: dict[str, TracerProvider] = {}

    def _tracer(self, view: WorkloadView) -> Tracer:
        key = view.spec.key
        provider = self._providers.get(key)
        if provider is None:
            resource = Resource.create(
                {
                    "service.name": view.spec.name,
                    "k8s.namespace.name": view.spec.namespace,
                    "k8s.deployment.name": view.spec.name,
                }
            )
            provider = TracerProvider(resource=resource)
            exporter = OTLPSpanExporter(endpoint=self.endpoint, timeout=5)
            provider.add_span_processor(
                BatchSpanProcessor(exporter, schedule_delay_millis=self._delay)
            )
            self._providers[key] = provider
        return provider.get_tracer("controller.sim.cluster")

    def emit(self, view: ClusterView, seconds: float) -> int:
        """Sample the traces of the ``seconds`` before ``view.at``; how many were started."""
        by_name = {(w.spec.namespace, w.spec.name): w for w in view.workloads}
        called = {(w.spec.namespace, c) for w in view.workloads for c in w.spec.calls}
        end_ns = int(view.at.timestamp() * NANOS)
        started = 0
        for key, root in by_name.items():
            if key in called:
                continue
            owed = (
                self._owed.get(root.spec.key, 0.0)
                + root.rates.offered * seconds * self.sample_ratio
            )
            count = min(int(owed), self.max_traces)
            self._owed[root.spec.key] = min(owed - int(owed), 1.0)
            for _ in range(count):
                at = end_ns - int(self._random.random() * seconds * NANOS)
                self._serve(root, by_name, at, None, 0)
            started += count
        self.emitted += started
        return started

    def _serve(
        self,
        view: WorkloadView,
        graph: Mapping[tuple[str, str], WorkloadView],
        start: int,
        parent: Span | None,
        depth: int,
    ) -> tuple[int, bool]:
        """One SERVER span of ``view`` (and its calls) from ``start``: (duration ns, failed)."""
        spec, rates = view.spec, view.rates
        duration = spec.base_latency_seconds + self._random.expovariate(
            1.0 / model.queue_mean(spec, rates.utilisation)
        )
        failed = self._random.random() < rates.error_ratio
        context = set_span_in_context(parent) if parent is not None else None
        span = self._tracer(view).start_span(
            "GET /",
            context=context,
            kind=SpanKind.SERVER,
            start_time=start,
            attributes={
                "http.request.method": "GET",
                "http.route": "/",
                "http.response.status_code": 500 if failed else 200,
            },
        )
        end = start + int(duration * NANOS)
        if depth < 8:  # a cycle in ``calls`` cannot recurse forever
            offset = start + int(spec.base_latency_seconds * NANOS / 2)
            for callee in spec.calls:
                target = graph.get((spec.namespace, callee))
                if target is not None:
                    self._call(view, target, graph, offset, span, depth)
        if failed:
            span.set_status(Status(StatusCode.ERROR, "HTTP 500"))
        span.end(end_time=end)
        return end - start, failed

    def _call(
        self,
        caller: WorkloadView,
        callee: WorkloadView,
        graph: Mapping[tuple[str, str], WorkloadView],
        start: int,
        parent: Span,
        depth: int,
    ) -> None:
        client = self._tracer(caller).start_span(
            f"GET {callee.spec.name}",
            context=set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes={"peer.service": callee.spec.name, "server.address": callee.spec.name},
        )
        took, failed = self._serve(callee, graph, start, client, depth + 1)
        if failed:
            client.set_status(Status(StatusCode.ERROR, "HTTP 500"))
        client.end(end_time=start + took)

    def flush(self, timeout: float = 5.0) -> bool:
        """Export every queued span now; True when all providers finished in time."""
        millis = int(timeout * 1000)
        return all(p.force_flush(timeout_millis=millis) for p in self._providers.values())

    def shutdown(self) -> None:
        """Flush and stop every provider's exporter thread."""
        for provider in self._providers.values():
            provider.shutdown()
        self._providers.clear()
