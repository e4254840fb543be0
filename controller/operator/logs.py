"""Log lines that join traces: every structlog event carries the current span's ids.

The operator's logs are JSON by default (``log.format=json`` unless configured otherwise),
and each line logged inside a span (a tick stage, a planner node) gets ``trace_id`` and
``span_id`` in the W3C hex form a tracing backend searches by. Incident ids are passed as
key-values by the code that knows them (the ledger tap logs one line per entry with its
``incident_id``).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from controller.logging import configure_logging
from controller.settings import LogSettings


def add_trace_ids(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace and span ids, when there is a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def configure_operator_logging(settings: LogSettings) -> None:
    """The controller's logging plus the trace-id processor, before the renderer."""
    configure_logging(settings)
    processors = list(structlog.get_config()["processors"])
    processors.insert(len(processors) - 1, add_trace_ids)
    structlog.configure(processors=processors)
