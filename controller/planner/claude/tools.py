"""The read-only tools the model may call, executed over a plain data snapshot (no client).

Every tool only reads the ``ToolsData`` snapshot the caller built for this incident: none can
approve, change policy or write anything (SAFETY.md R2, CH-05). Every result, errors included,
is one untrusted-data envelope of compact JSON after a constant line (issue 10): names, images,
event text and trace service names come from the cluster, and an error may echo the model's own
input, which may have come from that data. Results are size-capped. A bad call (unknown tool,
invalid input) is a value, an ``is_error`` tool result the model can correct, never an
exception (HolmesGPT's StructuredToolResult rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import Field, ValidationError

from controller.models.base import FrozenModel, format_duration
from controller.models.proposals import ProposalRequest
from controller.models.signals import CANONICAL_UNITS, Signal, SignalWindow
from controller.models.traces import TraceSnapshot
from controller.models.workloads import WorkloadInventory
from controller.planner.claude.prompts import (
    EPHEMERAL,
    Telemetry,
    newest_within,
    tool_error_text,
    tool_result_text,
)
from controller.planner.runbook.catalog import Runbook

DEFAULT_RESULT_CHARS = 8000
MAX_EVENTS = 50


@dataclass(frozen=True, slots=True)
class ToolsData:
    """What the tools may read for one incident, captured before planning starts."""

    windows: Mapping[str, Mapping[Signal, SignalWindow]] = field(default_factory=dict)
    inventories: Mapping[str, WorkloadInventory] = field(default_factory=dict)
    traces: TraceSnapshot | None = None
    telemetry: Telemetry = Telemetry()
    runbooks: tuple[Runbook, ...] = ()


ToolsDataProvider = Callable[[ProposalRequest], ToolsData]
"""Builds the snapshot for one request (the graph wires it from its observers' last tick)."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The content of one ``tool_result`` block."""

    content: str
    is_error: bool = False


class _WorkloadInput(FrozenModel):
    workload: str = Field(min_length=3, max_length=320, description="namespace/name")


class _MetricsInput(_WorkloadInput):
    window_seconds: int = Field(default=600, ge=60, le=6 * 3600)


class _EventsInput(_WorkloadInput):
    limit: int = Field(default=20, ge=1, le=MAX_EVENTS)


class _EdgesInput(FrozenModel):
    service: str | None = Field(default=None, max_length=253)


class _RunbookInput(FrozenModel):
    id: str = Field(min_length=1, max_length=100)


_INPUTS: dict[str, tuple[type[FrozenModel], str]] = {
    "get_metrics": (_MetricsInput, "Summary numbers of every signal of a workload over a window."),
    "get_rollout_history": (_WorkloadInput, "Revisions (oldest first) and the current revision."),
    "get_recent_events": (_EventsInput, "Recent Kubernetes and change events of a workload."),
    "get_trace_edges": (_EdgesInput, "Call-edge statistics from traces (optionally one service)."),
    "get_runbook": (_RunbookInput, "The full text of one runbook."),
}
READ_ONLY_TOOLS = frozenset(_INPUTS)


def tool_definitions() -> list[dict[str, Any]]:
    """The read-only tool definitions (``name``, ``description``, ``input_schema``)."""
    return [
        {"name": name, "description": text, "input_schema": model.model_json_schema()}
        for name, (model, text) in sorted(_INPUTS.items())
    ]


def cached(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same tools with a cache breakpoint on the last one (tools are a stable prefix)."""
    marked = [dict(tool) for tool in tools]
    if marked:
        marked[-1]["cache_control"] = dict(EPHEMERAL)
    return marked


def execute(
    name: str, arguments: object, data: ToolsData, *, limit: int = DEFAULT_RESULT_CHARS
) -> ToolResult:
    """Run one read-only tool; unknown names and bad inputs become error results."""
    entry = _INPUTS.get(name)
    if entry is None:
        return _error(data, limit, error="unknown tool", tool=name, available=sorted(_INPUTS))
    model, _ = entry
    try:
        parsed = model.model_validate(arguments, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        return _error(data, limit, error="invalid input", tool=name, at=where, why=first["msg"])
    result = _RUNNERS[name](parsed, data, limit)
    if isinstance(result, ToolResult):
        return result
    return ToolResult(tool_result_text(name, result, data.telemetry.secrets, limit))


def _error(data: ToolsData, limit: int, **details: Any) -> ToolResult:
    """An ``is_error`` result; its details are data (they may echo the model's input)."""
    return ToolResult(tool_error_text(details, data.telemetry.secrets, limit), is_error=True)


def _metrics(args: Any, data: ToolsData, limit: int) -> dict[str, Any] | ToolResult:
    windows = data.windows.get(args.workload)
    if windows is None:
        return _error(data, limit, error="no metrics for this workload", workload=args.workload)
    seconds = float(args.window_seconds)
    summary = {signal.value: _summary(window, seconds) for signal, window in windows.items()}
    return {"workload": args.workload, "window": format_duration_s(seconds), "signals": summary}


def _summary(window: SignalWindow, seconds: float) -> dict[str, Any]:
    values = window.values(seconds)
    latest = window.latest()
    return {
        "unit": CANONICAL_UNITS[window.signal],
        "health": window.health.value,
        "samples": len(values),
        "latest": None if latest is None else _num(latest[1]),
        "mean": _num(window.mean(seconds)),
        "min": _num(min(values)) if values else None,
        "max": _num(max(values)) if values else None,
    }


def _history(args: Any, data: ToolsData, limit: int) -> dict[str, Any] | ToolResult:
    inventory = data.inventories.get(args.workload)
    if inventory is None:
        return _error(data, limit, error="unknown workload", workload=args.workload)
    revisions = [
        {
            "revision": r.revision,
            "image": r.image,
            "created": r.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for r in inventory.revisions
    ]
    current = inventory.current
    return {
        "workload": args.workload,
        "current_revision": None if current is None else current.revision,
        "revisions": revisions,
    }


def _events(args: Any, data: ToolsData, limit: int) -> dict[str, Any] | ToolResult:
    events = [e for e in data.telemetry.events if e.workload.key == args.workload]
    recent = sorted(events, key=lambda e: e.time)[-args.limit :]
    dumped = [e.model_dump(mode="json", exclude={"workload"}) for e in recent]
    kept, omitted = newest_within(dumped, data.telemetry.secrets, limit // 2)
    return {"workload": args.workload, "count": len(kept), "omitted": omitted, "events": kept}


def _edges(args: Any, data: ToolsData, limit: int) -> dict[str, Any] | ToolResult:
    if data.traces is None:
        return _error(data, limit, error="no trace data is available")
    edges = [
        {"caller": e.caller, "callee": e.callee, **e.stats.model_dump(mode="json")}
        for e in data.traces.edges
        if args.service is None or args.service in (e.caller, e.callee)
    ]
    return {"window_seconds": data.traces.window_seconds, "edges": edges[:100]}


def _runbook(args: Any, data: ToolsData, limit: int) -> dict[str, Any] | ToolResult:
    runbook = next((r for r in data.runbooks if r.id == args.id), None)
    if runbook is None:
        known = sorted(r.id for r in data.runbooks)
        return _error(data, limit, error="unknown runbook", id=args.id, known=known)
    return {"id": runbook.id, "title": runbook.title, "body": runbook.body}


_RUNNERS: dict[str, Callable[[Any, ToolsData, int], dict[str, Any] | ToolResult]] = {
    "get_metrics": _metrics,
    "get_rollout_history": _history,
    "get_recent_events": _events,
    "get_trace_edges": _edges,
    "get_runbook": _runbook,
}


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def format_duration_s(seconds: float) -> str:
    """``600`` -> ``"10m"``."""
    return format_duration(timedelta(seconds=seconds))
