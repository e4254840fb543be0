"""Offline traces for ``aiops capture --otlp-dump FILE``: the OpenTelemetry Collector's file
exporter output (one OTLP/JSON ExportTraceServiceRequest per line), or a file holding one
(possibly pretty-printed) OTLP/JSON document, turned into the incident file's trace series.

Spans count at their own end timestamps (not when the file is read), so the series describe
the recorded period. Bad input raises ``InputError(path, "line N", reason)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from controller.errors import InputError
from controller.models.incident_file import TraceSeries
from controller.observers.traces.aggregate import TraceAggregator
from controller.observers.traces.decode import PayloadError, request_from_json, spans_of
from controller.settings import TracesSettings

MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
"""Largest single-document (not line-per-request) dump read into memory at once."""


class _FixedClock:
    """The dump's "now" is the end of the captured period."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        """The end of the period."""
        return self._at


def _parse(text: bytes, path: Path, line: int) -> Any:
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise InputError(path, f"line {line}", "JSON nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        reason = getattr(exc, "msg", None) or "not UTF-8 text"
        raise InputError(path, f"line {line}", f"invalid JSON: {reason}") from exc


def _request(document: Any, path: Path, line: int) -> ExportTraceServiceRequest:
    try:
        return request_from_json(document)
    except PayloadError as exc:
        raise InputError(path, f"line {line}", str(exc)) from exc


def _whole_document(first: bytes, rest: IO[bytes], path: Path, line: int) -> Any:
    """The file from ``first`` on as one JSON document (bounded read)."""
    text = first + rest.read(MAX_DOCUMENT_BYTES + 1 - len(first))
    if len(text) > MAX_DOCUMENT_BYTES:
        reason = f"a single JSON document over {MAX_DOCUMENT_BYTES} bytes: write one per line"
        raise InputError(path, f"line {line}", reason)
    try:
        return json.loads(text)
    except ValueError as exc:
        where = f"line {line + getattr(exc, 'lineno', 1) - 1}"
        reason = getattr(exc, "msg", None) or "not UTF-8 text"
        raise InputError(path, where, f"invalid JSON: {reason}") from exc


def load_otlp_dump(path: Path | str) -> Iterator[ExportTraceServiceRequest]:
    """Yield each ExportTraceServiceRequest of a Collector file-exporter dump, in file order.

    A first line that is not a whole JSON value (``{`` alone, as pretty-printers write) means
    the file is one document. Blank lines are skipped; an empty file yields nothing.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    with handle:
        jsonl = False
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if not jsonl and not raw.rstrip().endswith(b"}"):
                yield _request(_whole_document(raw, handle, path, number), path, number)
                return
            jsonl = True
            yield _request(_parse(raw, path, number), path, number)


def aggregate_dump(
    path: Path | str,
    settings: TracesSettings,
    start: datetime,
    end: datetime,
    *,
    step: timedelta | None = None,
) -> tuple[TraceSeries, ...]:
    """The dump's spans, aggregated like the live receiver does, as series over
    ``[start, end]`` with one point per ``step`` (default: ``settings.bucket``)."""
    if end <= start:
        raise ValueError("end must be after start")
    step = step or settings.bucket
    aggregator = TraceAggregator(
        settings,
        _FixedClock(end),
        retention=end - start + step + settings.bucket,
        observed_since=start - step,
    )
    for request in load_otlp_dump(path):
        aggregator.ingest(spans_of(request).spans, now=end, by_end_time=True)
    return aggregator.history(start, end, step)
