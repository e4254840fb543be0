"""Run the OTLP/HTTP receiver with uvicorn in a background thread.

The listening socket is bound here, before uvicorn starts, so port 0 yields a known free port
at once and a port already in use fails ``start()`` instead of a thread. ``start()`` waits a
bounded time for uvicorn to serve; ``stop()`` asks it to finish in-flight requests, then
forces the exit after a bounded grace period. Slow or idle clients are cut by the connection
guard (connections.py) and the app's body deadline (receiver.py), with the limits of
``TracesSettings``.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from datetime import datetime, timedelta
from types import TracebackType

import uvicorn

from controller.errors import PermanentError
from controller.models.modes import SourceHealth
from controller.models.traces import TraceSnapshot
from controller.observers.traces.aggregate import DEFAULT_STALE_AFTER, TraceAggregator
from controller.observers.traces.connections import ConnectionLimits, guarded_protocol
from controller.observers.traces.receiver import create_app
from controller.ports import Clock
from controller.settings import TracesSettings

_POLL_SECONDS = 0.01


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6, whichever the host is)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class TraceReceiver:
    """The live trace observer: an OTLP/HTTP server feeding a TraceAggregator.

    Implements TraceSource and HealthReporter by delegating to the aggregator.
    """

    def __init__(
        self,
        settings: TracesSettings,
        *,
        clock: Clock,
        aggregator: TraceAggregator | None = None,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self.aggregator = aggregator or TraceAggregator(settings, clock, stale_after=stale_after)
        self._app = create_app(self.aggregator, settings, clock)
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when settings.port is 0); only after ``start()``."""
        if self._port is None:
            raise RuntimeError("the trace receiver is not started")
        return self._port

    @property
    def endpoint(self) -> str:
        """The URL to give an OTLP exporter (``.../v1/traces``)."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1/traces"

    def start(self) -> None:
        """Bind, serve in a daemon thread, and return once requests are being accepted."""
        if self._thread is not None:
            raise RuntimeError("the trace receiver is already started")
        try:
            self._socket = listen_socket(self.settings.host, self.settings.port)
        except OSError as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            raise PermanentError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
        self._port = int(self._socket.getsockname()[1])
        server = self._server = uvicorn.Server(self._config())
        thread = self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="otlp-receiver", daemon=True
        )
        thread.start()
        self._wait_started(server, thread)

    def _config(self) -> uvicorn.Config:
        """uvicorn with the connection guard: the h11 protocol always (the guard extends it, so
        an installed httptools must not replace it), no WebSocket upgrades, and the keep-alive
        timeout in the whole seconds uvicorn takes (rounded up)."""
        limits = ConnectionLimits(
            header_timeout=self.settings.header_timeout.total_seconds(),
            max_connections=self.settings.max_connections,
            note=self.aggregator.note_rejected_request,
        )
        return uvicorn.Config(
            self._app,
            http=guarded_protocol(limits),
            ws="none",
            timeout_keep_alive=math.ceil(self.settings.idle_timeout.total_seconds()),
            log_config=None,
            access_log=False,
            lifespan="off",
        )

    def _wait_started(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        """Poll (bounded by startup_timeout) until uvicorn reports it serves."""
        deadline = time.monotonic() + self._startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise PermanentError("the OTLP receiver did not start")
            time.sleep(_POLL_SECONDS)

    def stop(self) -> None:
        """Finish in-flight requests, then stop (forcibly after the grace period)."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(self._shutdown_timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(self._shutdown_timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> TraceReceiver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def snapshot(self, now: datetime) -> TraceSnapshot:
        """TraceSource: the aggregator's statistics over the window ending at ``now``."""
        return self.aggregator.snapshot(now)

    def health(self, now: datetime) -> SourceHealth:
        """HealthReporter: fresh while exports keep arriving."""
        return self.aggregator.health(now)

    def dropped(self) -> dict[str, int]:
        """Spans lost so far, by reason."""
        return self.aggregator.dropped()
