"""A loopback fake of the Anthropic Messages API (``POST /v1/messages``) for chaos tests.

The real SDK talks to it over real HTTP on 127.0.0.1, so retries, timeouts, error classes and
the wire format are exercised exactly as in production. Replies are scripted as a queue: each
entry is a reply spec (data) or a function from the request JSON to a reply spec. Every request
body is recorded (so a test can prove a canary secret never left the process) and counted (so a
test can prove retries happen at one layer only). Every wait is bounded and ``stop()`` joins.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_DELAY_SECONDS = 30.0
"""No scripted delay waits longer than this, whatever the script says."""

STATUS_TEXT = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class SubmitPlan:
    """A ``submit_plan`` tool call with the given input."""

    input: Mapping[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A read-only tool call (``get_metrics``, ``get_rollout_history``, ...)."""

    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class Text:
    """A prose-only reply (no tool call at all)."""

    text: str


@dataclass(frozen=True)
class HttpError:
    """An API error: ``{"type": "error", "error": {...}}`` with the given status and headers."""

    status: int
    error_type: str | None = None
    message: str = "fake error"
    headers: Mapping[str, str] = field(default_factory=dict)
    error_code: str | None = None


@dataclass(frozen=True)
class Delay:
    """Hold the response headers for ``seconds`` (capped), then send ``then``."""

    seconds: float
    then: ReplySpec


@dataclass(frozen=True)
class PartialThenStall:
    """Send the status, headers and the first ``keep`` bytes of ``then``, then stall for
    ``seconds`` (capped) before closing: a half-written tool call (CH-02)."""

    then: ReplySpec
    keep: int = 80
    seconds: float = 20.0


@dataclass(frozen=True)
class ConnectionReset:
    """Read the request, then reset the TCP connection without any response."""


@dataclass(frozen=True)
class HugeBody:
    """A ``submit_plan`` call whose rationale alone is ``size`` bytes."""

    size: int = 1024 * 1024


@dataclass(frozen=True)
class EmptyContent:
    """A message with an empty content list."""


@dataclass(frozen=True)
class Truncated:
    """``stop_reason: max_tokens`` with a (partial) ``submit_plan`` input."""

    input: Mapping[str, Any]


@dataclass(frozen=True)
class Conflicting:
    """Two ``submit_plan`` calls in one reply."""

    first: Mapping[str, Any]
    second: Mapping[str, Any]


@dataclass(frozen=True)
class Blocks:
    """Any content blocks, verbatim, with a stop reason (for odd mixes)."""

    content: tuple[Mapping[str, Any], ...]
    stop_reason: str = "tool_use"


ReplySpec = (
    SubmitPlan
    | PartialThenStall
    | ToolCall
    | Text
    | HttpError
    | Delay
    | ConnectionReset
    | HugeBody
    | EmptyContent
    | Truncated
    | Conflicting
    | Blocks
)
Reply = ReplySpec | Callable[[dict[str, Any]], ReplySpec]

EXHAUSTED = HttpError(500, "api_error", "fake: the reply script is exhausted")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    path: str
    headers: Mapping[str, str]
    body: dict[str, Any]
    raw: str


class FakeMessagesApi:
    """Threaded loopback server; use as a context manager or call ``start()``/``stop()``."""

    def __init__(self, replies: Iterable[Reply] = (), *, default: Reply | None = None) -> None:
        self._replies: deque[Reply] = deque(replies)
        self._default = default
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._serial = 0
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeMessagesApi:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release any scripted delay, stop serving and join the thread."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeMessagesApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` for ``Anthropic(base_url=...)``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- scripting and inspection ---------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Append replies to the queue."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def attempts(self) -> int:
        """How many requests arrived (retries included)."""
        with self._lock:
            return len(self._requests)

    def bodies_text(self) -> list[str]:
        """The raw request bodies, for "this string never appears" assertions."""
        return [r.raw for r in self.requests]

    # --- internals ------------------------------------------------------------------------

    def _next(self, request: RecordedRequest) -> tuple[ReplySpec, int]:
        with self._lock:
            self._requests.append(request)
            self._serial += 1
            reply = self._replies.popleft() if self._replies else self._default or EXHAUSTED
            serial = self._serial
        spec = reply(request.body) if callable(reply) else reply
        return spec, serial

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(timeout=max(0.0, min(seconds, MAX_DELAY_SECONDS)))


def _handler_for(fake: FakeMessagesApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr access log."""

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            recorded = RecordedRequest(self.path, dict(self.headers.items()), body, raw)
            spec, serial = fake._next(recorded)
            while isinstance(spec, Delay):
                fake._wait(spec.seconds)
                spec = spec.then
            if isinstance(spec, ConnectionReset):
                _reset(self.connection)
                self.close_connection = True
                return
            if isinstance(spec, PartialThenStall):
                status, payload, headers = render(spec.then, body, serial)
                self._send(status, payload, headers, stall=(spec.keep, spec.seconds))
                return
            status, payload, headers = render(spec, body, serial)
            self._send(status, payload, headers)

        def _send(
            self,
            status: int,
            payload: bytes,
            headers: Mapping[str, str],
            stall: tuple[int, float] | None = None,
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("request-id", "req_fake")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if stall is None:
                    self.wfile.write(payload)
                    return
                keep, seconds = stall
                self.wfile.write(payload[:keep])
                self.wfile.flush()
                fake._wait(seconds)
                self.close_connection = True  # the rest never comes
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout): fine

    return Handler


def _reset(connection: socket.socket) -> None:
    """Close with SO_LINGER 0 so the peer sees a TCP reset, not a clean close."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


# --- rendering the wire format ------------------------------------------------------------


def tool_use(name: str, input: Mapping[str, Any], serial: int, index: int = 0) -> dict[str, Any]:
    """A ``tool_use`` content block."""
    return {"type": "tool_use", "id": f"toolu_fake_{serial}_{index}", "name": name, "input": input}


def render(
    spec: ReplySpec, request: Mapping[str, Any], serial: int
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body bytes, extra headers) for one reply spec."""
    if isinstance(spec, HttpError):
        return _error(spec)
    content, stop = _content(spec, serial)
    message = {
        "id": f"msg_fake_{serial}",
        "type": "message",
        "role": "assistant",
        "model": str(request.get("model", "fake-model")),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": max(1, len(json.dumps(request)) // 4),
            # The real API never bills more output than the request's max_tokens.
            "output_tokens": min(
                max(1, len(json.dumps(content)) // 4), int(request.get("max_tokens", 10**9))
            ),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    return 200, json.dumps(message).encode("utf-8"), {}


def _content(spec: ReplySpec, serial: int) -> tuple[list[Any], str]:
    if isinstance(spec, SubmitPlan):
        return [tool_use("submit_plan", spec.input, serial)], "tool_use"
    if isinstance(spec, ToolCall):
        return [tool_use(spec.name, spec.input, serial)], "tool_use"
    if isinstance(spec, Text):
        return [{"type": "text", "text": spec.text}], "end_turn"
    if isinstance(spec, HugeBody):
        plan = {"rationale": "x" * spec.size, "risk": "low"}
        return [tool_use("submit_plan", plan, serial)], "tool_use"
    if isinstance(spec, EmptyContent):
        return [], "end_turn"
    if isinstance(spec, Truncated):
        return [tool_use("submit_plan", spec.input, serial)], "max_tokens"
    if isinstance(spec, Conflicting):
        first = tool_use("submit_plan", spec.first, serial, 0)
        return [first, tool_use("submit_plan", spec.second, serial, 1)], "tool_use"
    if isinstance(spec, Blocks):
        return [dict(block) for block in spec.content], spec.stop_reason
    raise TypeError(f"not a content reply: {spec!r}")


def _error(spec: HttpError) -> tuple[int, bytes, dict[str, str]]:
    error: dict[str, Any] = {
        "type": spec.error_type or STATUS_TEXT.get(spec.status, "api_error"),
        "message": spec.message,
    }
    if spec.error_code is not None:
        error["details"] = {"error_code": spec.error_code}
    body = {"type": "error", "error": error}
    return spec.status, json.dumps(body).encode("utf-8"), dict(spec.headers)


def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
