"""The loopback HTTP endpoint Prometheus scrapes: ``GET /metrics`` (and ``/healthz``).

Binds 127.0.0.1 on a free port (or the one given) and stops itself after ``max_lifetime``
seconds at the latest, so a test that forgets to stop it cannot leave it behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class MetricsServer:
    """Serves ``render()`` (bytes of ``content_type``) at ``/metrics``; counts the scrapes."""

    def __init__(
        self,
        render: Callable[[], bytes],
        content_type: str,
        *,
        port: int = 0,
        max_lifetime: float = 600.0,
    ) -> None:
        self.render = render
        self.content_type = content_type
        self.scrapes = 0
        self.errors: list[str] = []
        """Exceptions while rendering (a bug of the simulator); tests expect none."""
        self.max_lifetime = max_lifetime
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer: threading.Timer | None = None
        self._started = False
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT``, as a Prometheus static target."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The full ``/metrics`` URL."""
        return f"http://{self.target}/metrics"

    def start(self) -> MetricsServer:
        """Serve in a background thread for at most ``max_lifetime`` seconds."""
        self._started = True
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        if self._started:  # shutdown() waits for serve_forever, which never ran otherwise
            self._server.shutdown()
        self._server.server_close()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)

    def body(self) -> bytes:
        """One scrape's body (counted)."""
        with self._lock:
            self.scrapes += 1
            return self.render()


def _handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: Prometheus scrapes several times a second."""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._answer(200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/metrics":
                try:
                    data = server.body()
                except Exception as exc:  # kept for the test to see, answered 500
                    server.errors.append(repr(exc))
                    self._answer(500, f"{exc!r}\n".encode(), "text/plain; charset=utf-8")
                    return
                self._answer(200, data, server.content_type)
            else:
                self._answer(404, b"not found\n", "text/plain; charset=utf-8")

        def _answer(self, code: int, data: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
