"""Trace statistics per service and per call edge, as the OTLP receiver aggregates them."""

from __future__ import annotations

from pydantic import Field

from controller.models.base import FrozenModel, UtcDatetime


class TraceStats(FrozenModel):
    """Span statistics over one window. Latencies are None when there were no spans."""

    spans: int = Field(ge=0)
    errors: int = Field(ge=0)
    rate: float = Field(ge=0, description="Spans per second over the window.")
    error_ratio: float | None = Field(default=None, ge=0, le=1)
    latency_p50_seconds: float | None = Field(default=None, ge=0)
    latency_p99_seconds: float | None = Field(default=None, ge=0)


class ServiceStats(FrozenModel):
    """Server-side statistics of one service."""

    service: str = Field(min_length=1)
    stats: TraceStats


class EdgeStats(FrozenModel):
    """Statistics of the calls from ``caller`` to ``callee`` (seen from the caller's spans)."""

    caller: str = Field(min_length=1)
    callee: str = Field(min_length=1)
    stats: TraceStats


class TraceSnapshot(FrozenModel):
    """Everything the trace observer knows at ``at`` over the last ``window_seconds``."""

    at: UtcDatetime
    window_seconds: float = Field(gt=0)
    services: tuple[ServiceStats, ...] = ()
    edges: tuple[EdgeStats, ...] = ()
    last_received: UtcDatetime | None = Field(
        default=None, description="When the last export arrived; None: never."
    )
    dropped_spans: int = Field(default=0, ge=0)
