"""OTLP trace payloads (binary protobuf or OTLP/JSON) into flat, validated span records.

The payload is untrusted (R15): only the few fields the aggregation needs are copied out, names
are length- and character-checked, and no attribute value is ever logged or kept beyond the
service and peer names. OTLP/JSON differs from the standard protobuf JSON mapping in one way
that matters here: trace and span ids are hex strings, not base64 (OTLP spec, "JSON Protobuf
Encoding"); unknown fields are ignored, as the spec requires of receivers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MAX_NAME_LENGTH = 253
"""Longest accepted service or peer name (a DNS name's limit)."""

_STATUS_CODE_ERROR = 2
_SERVICE_NAME = "service.name"
_PEER_SERVICE = "peer.service"
_ADDRESS_KEYS = ("server.address", "net.peer.name")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class Kind(IntEnum):
    """OTLP span kinds (Span.SpanKind)."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


AGGREGATED_KINDS = frozenset({Kind.SERVER, Kind.CONSUMER, Kind.CLIENT, Kind.PRODUCER})
"""Server-side kinds feed service statistics; client-side kinds feed edge statistics."""


class PayloadError(ValueError):
    """The body cannot be decoded as an ExportTraceServiceRequest (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """The parts of one span the aggregation uses. ``service`` is None when the resource has
    no usable service.name (the aggregator drops and counts such spans)."""

    service: str | None
    kind: Kind
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_ns: int
    end_ns: int
    error: bool
    peer_service: str | None = None
    server_address: str | None = None

    @property
    def duration_seconds(self) -> float:
        """End minus start in seconds (negative for a malformed span)."""
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def valid(self) -> bool:
        """Non-zero ids of the right length (W3C trace context) and an end no earlier than the
        start."""
        return (
            len(self.trace_id) == 16
            and len(self.span_id) == 8
            and any(self.trace_id)
            and any(self.span_id)
            and len(self.parent_span_id) in (0, 8)
            and 0 < self.start_ns <= self.end_ns
        )


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """Records of the aggregated kinds, plus how many spans were skipped as other kinds."""

    spans: tuple[SpanRecord, ...]
    ignored: int


def clean_name(value: Any) -> str | None:
    """A name fit to become a key and to reach a report or a prompt: a non-empty printable
    string of at most MAX_NAME_LENGTH characters (zero-width and control characters refused)."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        return None
    return value if value.isprintable() and value.strip() == value else None


def _string_attributes(attributes: Any, keys: frozenset[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for attribute in attributes:
        if attribute.key in keys and attribute.value.WhichOneof("value") == "string_value":
            found.setdefault(attribute.key, attribute.value.string_value)
    return found


_SPAN_KEYS = frozenset({_PEER_SERVICE, *_ADDRESS_KEYS})


def _record(service: str | None, span: Any) -> SpanRecord:
    attributes = _string_attributes(span.attributes, _SPAN_KEYS)
    address = next((attributes[k] for k in _ADDRESS_KEYS if k in attributes), None)
    return SpanRecord(
        service=service,
        kind=Kind(span.kind),
        trace_id=bytes(span.trace_id),
        span_id=bytes(span.span_id),
        parent_span_id=bytes(span.parent_span_id),
        start_ns=int(span.start_time_unix_nano),
        end_ns=int(span.end_time_unix_nano),
        error=span.status.code == _STATUS_CODE_ERROR,
        peer_service=clean_name(attributes.get(_PEER_SERVICE)),
        server_address=clean_name(address),
    )


def spans_of(request: ExportTraceServiceRequest) -> DecodedRequest:
    """Flatten a decoded request into records of the aggregated kinds."""
    records: list[SpanRecord] = []
    ignored = 0
    for resource_spans in request.resource_spans:
        names = _string_attributes(resource_spans.resource.attributes, frozenset({_SERVICE_NAME}))
        service = clean_name(names.get(_SERVICE_NAME))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if int(span.kind) in AGGREGATED_KINDS:
                    records.append(_record(service, span))
                else:
                    ignored += 1
    return DecodedRequest(tuple(records), ignored)


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Binary protobuf body into a request; PayloadError when it does not decode."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise PayloadError("body is not a valid protobuf ExportTraceServiceRequest") from exc
    return request


def parse_json(body: bytes | str) -> ExportTraceServiceRequest:
    """OTLP/JSON body into a request; PayloadError naming the first problem."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PayloadError("body is not valid JSON") from exc
    return request_from_json(document)


def request_from_json(document: Any) -> ExportTraceServiceRequest:
    """An already-parsed OTLP/JSON document into a request (hex ids converted first)."""
    if not isinstance(document, dict):
        raise PayloadError("an ExportTraceServiceRequest must be a JSON object")
    for where, holder in _id_holders(document):
        _hex_ids_to_base64(holder, where)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise PayloadError(_short(f"not an ExportTraceServiceRequest: {exc}")) from exc
    return request


def _short(message: str, limit: int = 200) -> str:
    """Error text may quote the sender's data: keep it bounded."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _dicts(value: Any, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    items = value.get(key) if isinstance(value, dict) else None
    if isinstance(items, list):
        yield from ((i, item) for i, item in enumerate(items) if isinstance(item, dict))


def _id_holders(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object carrying trace/span ids: spans and their links."""
    for r, resource_spans in _dicts(document, "resourceSpans"):
        for s, scope_spans in _dicts(resource_spans, "scopeSpans"):
            for p, span in _dicts(scope_spans, "spans"):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{p}]"
                yield where, span
                for k, link in _dicts(span, "links"):
                    yield f"{where}.links[{k}]", link


def _hex_ids_to_base64(holder: dict[str, Any], where: str) -> None:
    for field in _ID_FIELDS:
        value = holder.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise PayloadError(f"{where}.{field} must be a hex string")
        try:
            raw = binascii.unhexlify(value)
        except (binascii.Error, ValueError) as exc:
            raise PayloadError(f"{where}.{field} is not hex-encoded") from exc
        holder[field] = base64.b64encode(raw).decode("ascii")
