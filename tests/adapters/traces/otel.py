"""Real OpenTelemetry SDK traces for the receiver tests: a small shop whose services call each
other, with explicit timestamps so every duration (hence every percentile) is known exactly."""

from __future__ import annotations

import base64
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000


class Fleet:
    """One TracerProvider per service (Resource service.name), all exporting somewhere."""

    def __init__(self, exporter: Callable[[], SpanExporter]) -> None:
        self._exporter = exporter
        self._providers: dict[str, TracerProvider] = {}

    @classmethod
    def otlp(cls, endpoint: str, compression: Compression | None = None) -> Fleet:
        """Every service exports synchronously to ``endpoint`` with the real OTLP exporter."""
        return cls(lambda: OTLPSpanExporter(endpoint=endpoint, compression=compression))

    def tracer(self, service: str) -> Tracer:
        """The tracer of ``service`` (its provider is created on first use)."""
        provider = self._providers.get(service)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(SimpleSpanProcessor(self._exporter()))
            self._providers[service] = provider
        return provider.get_tracer("tests.adapters.traces")

    def shutdown(self) -> None:
        """Shut every provider (and so every exporter) down."""
        for provider in self._providers.values():
            provider.shutdown()


@dataclass
class Expected:
    """What the receiver should report: durations and error flags per service and edge."""

    durations: dict[tuple[str | None, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    errors: dict[tuple[str | None, str], int] = field(default_factory=lambda: defaultdict(int))
    ends: dict[tuple[str | None, str], list[int]] = field(default_factory=lambda: defaultdict(list))

    def note(self, key: tuple[str | None, str], start: int, end: int, error: bool) -> None:
        self.durations[key].append((end - start) / 1e9)
        self.errors[key] += int(error)
        self.ends[key].append(end)

    def count(self, key: tuple[str | None, str]) -> int:
        return len(self.durations[key])

    def quantile(self, key: tuple[str | None, str], q: float) -> float:
        """Exact nearest-rank quantile (what the histogram approximates)."""
        values = sorted(self.durations[key])
        return values[max(1, math.ceil(q * len(values))) - 1]


def _span(
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    start: int,
    parent: Span | None = None,
    attributes: dict[str, str] | None = None,
) -> Span:
    context = set_span_in_context(parent) if parent is not None else None
    return tracer.start_span(
        name, context=context, kind=kind, attributes=attributes, start_time=start
    )


def _end(span: Span, end: int, error: bool) -> None:
    if error:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    span.end(end_time=end)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def shop_traffic(fleet: Fleet, requests: int, *, seed: int = 7, spacing: float = 1.0) -> Expected:
    """``requests`` user requests through the shop, inner spans ended (and exported) first.

    frontend SERVER -> CLIENT (no peer attributes: joined with) -> checkout SERVER
    checkout CLIENT (server.address = payments.shop.svc.cluster.local) -> payments SERVER,
    every 4th payment failing on both sides; frontend CLIENT (peer.service=recommendation, an
    uninstrumented service).
    """
    rng = random.Random(seed)
    expected = Expected()
    front, checkout, payments = (fleet.tracer(s) for s in ("frontend", "checkout", "payments"))
    for i in range(requests):
        fail = i % 4 == 0
        t = T0_NS + _ns(i * spacing)
        pay = _ns(rng.lognormvariate(math.log(0.02), 0.6))
        check_inner = pay + _ns(0.002)
        check_server = check_inner + _ns(rng.uniform(0.001, 0.01))
        front_client = check_server + _ns(0.003)
        rec = _ns(rng.lognormvariate(math.log(0.005), 0.3))
        front_server = front_client + rec + _ns(0.004)

        root = _span(front, "GET /cart", SpanKind.SERVER, t)
        call = _span(front, "POST /checkout", SpanKind.CLIENT, t + _ns(0.001), root)
        served = _span(checkout, "POST /checkout", SpanKind.SERVER, t + _ns(0.002), call)
        address = {"server.address": "payments.shop.svc.cluster.local"}
        pay_call = _span(checkout, "POST /pay", SpanKind.CLIENT, t + _ns(0.003), served, address)
        pay_served = _span(payments, "POST /pay", SpanKind.SERVER, t + _ns(0.004), pay_call)

        for span, key, start, length, error in (
            (pay_served, (None, "payments"), t + _ns(0.004), pay, fail),
            (pay_call, ("checkout", "payments"), t + _ns(0.003), check_inner, fail),
            (served, (None, "checkout"), t + _ns(0.002), check_server, False),
            (call, ("frontend", "checkout"), t + _ns(0.001), front_client, False),
        ):
            _end(span, start + length, error)
            expected.note(key, start, start + length, error)
        rec_start = t + _ns(0.001) + front_client
        peer = {"peer.service": "recommendation"}
        rec_call = _span(front, "GET /recommend", SpanKind.CLIENT, rec_start, root, peer)
        _end(rec_call, rec_start + rec, False)
        expected.note(("frontend", "recommendation"), rec_start, rec_start + rec, False)
        _end(root, t + front_server, False)
        expected.note((None, "frontend"), t, t + front_server, False)
    return expected


def captured_shop(requests: int, *, spacing: float = 1.0) -> tuple[list[ReadableSpan], Expected]:
    """The shop's spans captured in memory (in the order the SDK ended them)."""
    memory = InMemorySpanExporter()
    fleet = Fleet(lambda: memory)
    expected = shop_traffic(fleet, requests, spacing=spacing)
    spans = list(memory.get_finished_spans())
    fleet.shutdown()
    return spans, expected


def encode(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The ExportTraceServiceRequest the OTLP exporter would send for ``spans``."""
    return encode_spans(spans)


def _base64_ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _base64_ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _base64_ids_to_hex(item)


def otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """OTLP/JSON as the Collector writes it: lowerCamelCase, integer enums, hex ids."""
    document: dict[str, Any] = json_format.MessageToDict(request, use_integers_for_enums=True)
    _base64_ids_to_hex(document)
    return document


def batches(spans: Sequence[ReadableSpan], size: int) -> Iterable[Sequence[ReadableSpan]]:
    """``spans`` in consecutive groups of ``size``."""
    return (spans[i : i + size] for i in range(0, len(spans), size))
