"""The operator's one HTTP server: probes, ``/metrics``, the OTLP/HTTP receiver, a Slack slot.

One port for everything a cluster talks to (one Service port, one NetworkPolicy rule):

- ``GET /healthz``: liveness, 200 while the operator runs its loop;
- ``GET /readyz``: readiness, 200 when the cache is synced and the last tick is recent; the
  body also says whether this replica leads and in which mode it runs;
- ``GET /metrics``: the controller's registry in the Prometheus text format;
- ``POST /v1/traces``: the OTLP/HTTP receiver's own app (``observers.traces.create_app``),
  mounted as is;
- ``/slack/...``: the slot for the Slack endpoint of a later issue (404 until one is given).

Served by uvicorn in a daemon thread with the trace receiver's connection guard (head
deadline, connection cap: ``observers.traces.connections``), because the OTLP endpoint on
this port faces every sender in the cluster and must not be held by a slow one. The socket
is bound before uvicorn starts, so a port in use fails ``start()`` and port 0 works in tests.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from controller.errors import PermanentError
from controller.metrics import EXPOSITION_CONTENT_TYPE
from controller.observers.traces.connections import ConnectionLimits, guarded_protocol
from controller.observers.traces.server import listen_socket
from controller.settings import TracesSettings

_POLL = 0.01


@dataclass(frozen=True, slots=True)
class Probes:
    """What the probes read; each a cheap, thread-safe call."""

    alive: Callable[[], bool]
    synced: Callable[[], bool]
    leader: Callable[[], bool]
    tick_age: Callable[[], float | None]
    """Seconds since the last tick ended (None: no tick yet)."""
    max_tick_age: float
    mode: str
    on_ready: Callable[[bool], None] = lambda _ready: None


def readiness(probes: Probes) -> tuple[bool, dict[str, object]]:
    """Ready when synced and a tick ended within ``max_tick_age``; the JSON body."""
    synced, age = probes.synced(), probes.tick_age()
    fresh = age is not None and age <= probes.max_tick_age
    ready = synced and fresh
    body: dict[str, object] = {
        "ready": ready,
        "synced": synced,
        "leader": probes.leader(),
        "mode": probes.mode,
        "last_tick_age_seconds": None if age is None else round(age, 3),
        "max_tick_age_seconds": probes.max_tick_age,
    }
    return ready, body


def create_app(
    probes: Probes,
    exposition: Callable[[], bytes],
    *,
    otlp: ASGIApp | None = None,
    slack: ASGIApp | None = None,
) -> Starlette:
    """The one ASGI app (routes first, the OTLP app mounted last so it answers the rest)."""

    async def healthz(_request: Request) -> Response:
        if probes.alive():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "loop stopped"}, status_code=503)

    async def readyz(_request: Request) -> Response:
        ready, body = readiness(probes)
        probes.on_ready(ready)
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(_request: Request) -> Response:
        return Response(exposition(), media_type=EXPOSITION_CONTENT_TYPE)

    async def no_slack(_request: Request) -> Response:
        return PlainTextResponse("slack endpoint not configured", status_code=404)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/slack", app=slack) if slack is not None else Mount("/slack", routes=[
            Route("/{path:path}", no_slack, methods=["GET", "POST"])]),
    ]  # fmt: skip
    if otlp is not None:
        routes.append(Mount("", app=otlp))
    return Starlette(routes=routes)


class HttpServer:
    """uvicorn serving ``app`` on ``host:port`` in a daemon thread, stopped within a bound."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str,
        port: int,
        limits: TracesSettings,
        note: Callable[[str], None],
        startup_timeout: float = 10.0,
    ) -> None:
        self._app = app
        self.host = host
        self._requested = port
        self._limits = limits
        self._note = note
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    def start(self) -> None:
        """Bind, serve, and return once requests are accepted (PermanentError otherwise)."""
        try:
            self._socket = listen_socket(self.host, self._requested)
        except OSError as exc:
            where = f"{self.host}:{self._requested}"
            raise PermanentError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
        self.port = int(self._socket.getsockname()[1])
        limits = ConnectionLimits(
            header_timeout=self._limits.header_timeout.total_seconds(),
            max_connections=self._limits.max_connections,
            note=self._note,
        )
        config = uvicorn.Config(
            self._app,
            http=guarded_protocol(limits),
            ws="none",
            timeout_keep_alive=math.ceil(self._limits.idle_timeout.total_seconds()),
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = self._server = uvicorn.Server(config)
        thread = self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="aiops-http", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop(1.0)
                raise PermanentError(f"the HTTP server on {self.host}:{self.port} did not start")
            time.sleep(_POLL)

    def stop(self, timeout: float) -> None:
        """Finish in-flight requests for up to ``timeout`` seconds, then force the exit."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(max(0.1, timeout / 2))
            if thread.is_alive():
                server.force_exit = True
                thread.join(max(0.1, timeout / 2))
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
