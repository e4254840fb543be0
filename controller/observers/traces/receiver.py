"""The OTLP/HTTP trace endpoint as an ASGI app: ``POST /v1/traces`` and ``GET /healthz``.

Status codes follow the OTLP/HTTP spec: 200 with an ExportTraceServiceResponse in the request's
encoding (``partial_success`` set when spans were dropped by limits); 400 for a body that does
not decode or a corrupt gzip stream; 413 when the body passes ``max_body_bytes`` before or
after decompression; 415 for other content types or encodings; 408, with the connection
closed, when the body is not whole within ``body_timeout`` of the head (a slow or stalled
sender would otherwise hold its connection for ever); 503 with ``Retry-After``, the connection
closed, when taking the body would pass ``max_inflight_bytes`` across all connections (the
spec's retryable "server busy"; exporters retry it). Error bodies are a
``google.rpc.Status``. A rejected request changes nothing. Only counts are logged, never
attribute values (telemetry is untrusted input, R15).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Final

import structlog
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from controller.observers.traces.aggregate import IngestResult, TraceAggregator
from controller.observers.traces.body import (
    BadEncoding,
    BodyTooLarge,
    InflightBudget,
    LimitedBody,
    ReceiverBusy,
    UnsupportedEncoding,
)
from controller.observers.traces.decode import PayloadError, parse_json, parse_protobuf, spans_of
from controller.ports import Clock
from controller.settings import TracesSettings

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
TRACES_PATH: Final = "/v1/traces"
_INVALID_ARGUMENT = 3  # google.rpc.Code; the spec says clients must not act on it
BUSY_RETRY_AFTER: Final = "1"
"""Seconds a sender refused for the in-flight budget waits; bodies drain within a second."""

log = structlog.get_logger("aiops.traces")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def status_body(message: str, media_type: str) -> bytes:
    """A ``google.rpc.Status`` (code, message) in ``media_type``; encoded by hand because its
    generated class lives in googleapis-common-protos, which the runtime does not depend on."""
    if media_type == JSON:
        return json.dumps({"code": _INVALID_ARGUMENT, "message": message}).encode()
    text = message.encode()
    return b"\x08" + _varint(_INVALID_ARGUMENT) + b"\x12" + _varint(len(text)) + text


def media_type_of(content_type: str) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


def _success(result: IngestResult, media_type: str) -> Response:
    response = ExportTraceServiceResponse()
    if result.rejected_count:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(result.rejected.items()))
        response.partial_success.rejected_spans = result.rejected_count
        response.partial_success.error_message = (
            f"{result.rejected_count} spans rejected ({reasons}); see docs/traces.md for limits"
        )
        log.info("otlp spans rejected", rejected=result.rejected_count, **result.rejected)
    if media_type == JSON:
        body = json_format.MessageToJson(response, indent=None).encode()
    else:
        body = response.SerializeToString()
    return Response(body, 200, media_type=media_type)


class _Held:
    """The bytes one request has reserved in the shared budget, given back exactly once."""

    def __init__(self, budget: InflightBudget) -> None:
        self.budget = budget
        self.size = 0

    def grow_to(self, size: int) -> None:
        """Hold ``size`` bytes in all (ReceiverBusy if the budget cannot take the rest)."""
        if size > self.size:
            self.budget.reserve(size - self.size)
            self.size = size

    def release(self) -> None:
        """Give everything back (the body is answered or dropped)."""
        self.budget.release(self.size)
        self.size = 0


@dataclass(frozen=True, slots=True)
class _Endpoint:
    aggregator: TraceAggregator
    settings: TracesSettings
    clock: Clock
    budget: InflightBudget

    def _failure(
        self,
        status: int,
        reason: str,
        message: str,
        media_type: str,
        *,
        close: bool = False,
        retry_after: str | None = None,
    ) -> Response:
        """Refuse the whole export: count it, log the reason (never the payload). ``close``
        ends the connection after the answer (the rest of the body will not be read)."""
        self.aggregator.note_rejected_request(reason)
        log.info("otlp export rejected", status=status, reason=reason)
        headers = {"connection": "close"} if close else {}
        if retry_after is not None:
            headers["retry-after"] = retry_after
        body = status_body(message, media_type)
        return Response(body, status, headers=headers or None, media_type=media_type)

    async def export(self, request: Request) -> Response:
        """Handle one OTLP/HTTP export."""
        media_type = media_type_of(request.headers.get("content-type", ""))
        if media_type not in (PROTOBUF, JSON):
            message = f"unsupported content type; use {PROTOBUF} or {JSON}"
            return self._failure(415, "unsupported_media_type", message, PROTOBUF)
        held = _Held(self.budget)
        try:
            return await self._export(request, media_type, held)
        finally:
            held.release()

    async def _export(self, request: Request, media_type: str, held: _Held) -> Response:
        try:
            body = await self._read(request, held)
        except ReceiverBusy as exc:
            return self._failure(
                503, "busy", str(exc), media_type, close=True, retry_after=BUSY_RETRY_AFTER
            )
        except UnsupportedEncoding:
            message = "unsupported Content-Encoding; use gzip, deflate or none"
            return self._failure(415, "unsupported_encoding", message, media_type)
        except BodyTooLarge as exc:
            return self._failure(413, "too_large", str(exc), media_type)
        except BadEncoding as exc:
            return self._failure(400, "bad_encoding", str(exc), media_type)
        except ClientDisconnect:
            return self._failure(400, "client_disconnect", "client disconnected", media_type)
        except TimeoutError:
            message = f"body not received within {self.settings.body_timeout.total_seconds():g}s"
            return self._failure(408, "body_timeout", message, media_type, close=True)
        try:
            result = await run_in_threadpool(self._accept, body, media_type)
        except PayloadError as exc:
            return self._failure(400, "malformed", str(exc), media_type)
        return _success(result, media_type)

    async def _read(self, request: Request, held: _Held) -> bytes:
        """The decoded body, read incrementally, never past the size limit, never longer
        than ``body_timeout`` in all (TimeoutError): a deadline on the whole body, not per
        chunk, so a byte now and then cannot keep it going; and never past the shared
        in-flight budget (ReceiverBusy), which ``held`` reserves as the decoded body grows."""
        limit = self.settings.max_body_bytes
        reader = LimitedBody(request.headers.get("content-encoding", ""), limit)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"body larger than {limit} bytes")
        async with asyncio.timeout(self.settings.body_timeout.total_seconds()):
            async for chunk in request.stream():
                reader.feed(chunk)
                held.grow_to(reader.produced)
        return reader.finish()

    def _accept(self, body: bytes, media_type: str) -> IngestResult:
        """Decode then aggregate (in a worker thread: parsing 8 MiB takes a while)."""
        parsed = parse_json(body) if media_type == JSON else parse_protobuf(body)
        decoded = spans_of(parsed)
        return self.aggregator.ingest(decoded.spans, now=self.clock.now())

    async def healthz(self, request: Request) -> Response:
        """Liveness: the receiver answers (trace freshness is ``health()``'s business)."""
        return JSONResponse({"status": "ok"})


def create_app(aggregator: TraceAggregator, settings: TracesSettings, clock: Clock) -> Starlette:
    """The receiver's ASGI app; spans go into ``aggregator``, received at ``clock.now()``."""
    endpoint = _Endpoint(aggregator, settings, clock, InflightBudget(settings.max_inflight_bytes))
    return Starlette(
        routes=[
            Route(TRACES_PATH, endpoint.export, methods=["POST"]),
            Route("/healthz", endpoint.healthz, methods=["GET"]),
        ]
    )
