"""The OpenTelemetry trace observer: an OTLP/HTTP receiver with bounded aggregation.

``TraceReceiver`` (server.py) serves ``POST /v1/traces`` (the ASGI app of receiver.py) and feeds
a ``TraceAggregator`` (aggregate.py), which keeps sliding-window statistics per service and per
call edge; slow and idle clients are cut off and open connections capped (connections.py).
``load_otlp_dump`` / ``aggregate_dump`` (dump.py) do the same offline for a
Collector file-exporter dump. See docs/traces.md.

Only this package imports opentelemetry.proto, google.protobuf, starlette and uvicorn.
"""

from __future__ import annotations

from controller.observers.traces.aggregate import Drop, IngestResult, TraceAggregator
from controller.observers.traces.decode import SpanRecord, parse_json, parse_protobuf, spans_of
from controller.observers.traces.dump import aggregate_dump, load_otlp_dump
from controller.observers.traces.histogram import RELATIVE_ERROR
from controller.observers.traces.receiver import create_app
from controller.observers.traces.server import TraceReceiver

__all__ = [
    "RELATIVE_ERROR",
    "Drop",
    "IngestResult",
    "SpanRecord",
    "TraceAggregator",
    "TraceReceiver",
    "aggregate_dump",
    "create_app",
    "load_otlp_dump",
    "parse_json",
    "parse_protobuf",
    "spans_of",
]
