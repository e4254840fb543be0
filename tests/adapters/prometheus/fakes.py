"""Raw-socket loopback servers for the HTTP layer's failure modes, and an 8 KiB proxy.

``FaultServer`` answers every request with the current ``Mode``, written byte by byte as a
broken server would (resets, truncated chunks, trickles, lies in Content-Length), which
``http.server`` cannot do. ``LineLimitProxy`` forwards to a real Prometheus unless the
request line is over 8 KiB, which it answers 431 and resets, as the measured proxy did.
Everything binds to 127.0.0.1; every wait is bounded and ends when the server closes.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

HEAD_LIMIT = 1 << 16
"""Bytes of request head read before giving up on a client."""


@dataclass(frozen=True)
class Request:
    """One request as received: its request line, headers and body."""

    line: bytes
    headers: dict[str, str]
    body: bytes


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk or len(data) > HEAD_LIMIT * 4:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    line, *rest = head.split(b"\r\n")
    headers = {}
    for raw in rest:
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(line, headers, body)


def reset(conn: socket.socket) -> None:
    """Close with RST instead of FIN (SO_LINGER 0): a connection reset for the client."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


Writer = Callable[[socket.socket, Request, threading.Event], None]
"""Writes the answer to one request; may wait on the event (set when the server closes)."""


def head(status: int, headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(
    status: int, body: bytes, content_type: str = "application/json", **extra: str
) -> Writer:
    """A complete, well-formed answer."""
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **extra}
    headers["Connection"] = "close"

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        conn.sendall(head(status, headers) + body)

    return write


def success(result: object) -> bytes:
    """A Prometheus range-query success envelope around ``result``."""
    envelope = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    return json.dumps(envelope).encode()


def _send_until_closed(
    conn: socket.socket,
    chunks: Callable[[], bytes],
    closing: threading.Event,
    pause: float = 0.0,
    total: int | None = None,
) -> None:
    sent = 0
    while not closing.is_set() and (total is None or sent < total):
        data = chunks()
        conn.sendall(data)
        sent += len(data)
        if pause and closing.wait(pause):
            return


def reset_mid_body(status: int = 200) -> Writer:
    """Promise 10,000 bytes, send 100 of them, reset the connection."""

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        conn.sendall(head(status, {"Content-Type": "application/json", "Content-Length": "10000"}))
        conn.sendall(b'{"status": "success", "data": ' + b" " * 70)
        reset(conn)

    return write


def truncated_chunked(status: int = 200) -> Writer:
    """A chunked body that stops inside a chunk, closed without the last chunk."""

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        conn.sendall(
            head(status, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        )
        conn.sendall(b"400\r\n" + b'{"status": "success", ' + b" " * 50)
        conn.shutdown(socket.SHUT_WR)

    return write


def short_body() -> Writer:
    """Content-Length says 1,000; ten bytes come, then the end of the stream."""

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        conn.sendall(head(200, {"Content-Type": "application/json", "Content-Length": "1000"}))
        conn.sendall(b'{"status":')
        conn.shutdown(socket.SHUT_WR)

    return write


def stall(seconds: float) -> Writer:
    """No answer at all for ``seconds`` (then a valid one, to nobody)."""

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        if not closing.wait(seconds):
            answer(200, success([]))(conn, request, closing)

    return write


def trickle(pause: float) -> Writer:
    """Headers at once, then one byte of a 10,000-byte body every ``pause`` seconds."""

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        conn.sendall(head(200, {"Content-Type": "application/json", "Content-Length": "10000"}))
        _send_until_closed(conn, lambda: b" ", closing, pause=pause, total=10000)

    return write


def huge(size: int, declared: bool) -> Writer:
    """A ``size``-byte answer, with its Content-Length or chunked (undeclared)."""
    piece = b" " * 65536

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        if declared:
            conn.sendall(
                head(200, {"Content-Type": "application/json", "Content-Length": str(size)})
            )
            _send_until_closed(conn, lambda: piece, closing, total=size)
            return
        conn.sendall(
            head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        )
        chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
        _send_until_closed(conn, lambda: chunk, closing, total=size)
        conn.sendall(b"0\r\n\r\n")

    return write


def raw(data: bytes, then_reset: bool = False) -> Writer:
    """Exactly ``data`` (a non-HTTP answer, or nothing), then a close or a reset."""

    def write(conn: socket.socket, request: Request, closing: threading.Event) -> None:
        if data:
            conn.sendall(data)
        if then_reset:
            reset(conn)

    return write


@dataclass
class FaultServer:
    """Answers every request on 127.0.0.1 with ``writer``; records what it received."""

    writer: Writer = field(default_factory=lambda: answer(200, success([])))
    seen: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._closing = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            request = _read_request(conn)
            if request is None:
                return
            with self._lock:
                self.seen.append(request)
                writer = self.writer
            writer(conn, request, self._closing)
        except OSError:
            pass  # the client gave up first
        finally:
            try:
                conn.close()
            except OSError:
                pass


def refused_url() -> str:
    """A loopback URL nothing listens on (the port was just bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- the 8 KiB proxy ------------------------------------------------------------------------


LINE_LIMIT = 8 * 1024


@dataclass
class LineLimitProxy:
    """A proxy to ``upstream_port`` that answers 431 (and resets) to request lines > 8 KiB."""

    upstream_port: int
    limit: int = LINE_LIMIT
    lines: list[int] = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        self._server = FaultServer(writer=self._write)

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> LineLimitProxy:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)

    def _write(self, conn: socket.socket, request: Request, closing: threading.Event) -> None:
        self.lines.append(len(request.line))
        if len(request.line) > self.limit:
            self.refused += 1
            conn.sendall(head(431, {"Transfer-Encoding": "chunked"}, "Request Line Too Long"))
            conn.sendall(b"40\r\n" + b"r" * 20)  # part of a chunk, then a reset
            reset(conn)
            return
        method, target, _ = request.line.decode("latin-1").split(" ", 2)
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            kept = {k: v for k, v in request.headers.items() if k == "content-type"}
            upstream.request(method, target, body=request.body or None, headers=kept)
            response = upstream.getresponse()
            body = response.read()
            kind = response.getheader("Content-Type", "application/json")
            answer(response.status, body, kind)(conn, request, closing)
        finally:
            upstream.close()
