"""The receiver's connection guard: a request-head deadline and a hard cap on open connections.

Hand-written because uvicorn has neither. Its ``timeout_keep_alive`` runs only between
requests: it is armed after a response and cancelled by the next byte received, and a new
connection has no timer at all. So a client that sends a head one byte at a time (slowloris)
keeps its connection for ever. ``limit_concurrency`` answers 503 only once a whole head has
arrived, so it never bounds how many connections are open. ASGI middleware cannot help either,
because the app is called only after the head is parsed. The guard therefore sits one level
down, in uvicorn's h11 protocol (one instance per connection):

- **Head deadline.** A request head must be whole within ``header_timeout``. The clock starts
  when the connection is accepted, or on a reused connection with the first byte after the
  previous response. Otherwise the connection is closed without a response (the head is not
  known, so no answer can be framed). Bytes that arrive after a response, such as the rest of a
  body refused with 413, count as a new head, so they are bounded too.
- **Cap.** A connection accepted while ``max_connections`` are open gets a canned 503
  (OTLP senders retry it) and is closed at once, before anything is read. Connections already
  open are never dropped for a newcomer.

The body deadline is the app's (receiver.py answers 408). The idle keep-alive timeout is
uvicorn's own, because ``data_received`` cancels it just when the head deadline starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

REFUSED: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 19\r\nretry-after: 1\r\nconnection: close\r\n\r\nService Unavailable"
)
"""The whole answer to a connection over the cap; written before the request is read."""


def _ignore(reason: str) -> None:
    """The default ``note``: count nothing."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What the guard enforces; ``note`` counts each cut by reason (it must be thread-safe)."""

    header_timeout: float
    max_connections: int
    note: Callable[[str], None] = _ignore


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the head deadline and the cap (see the module docstring)."""

    limits: ClassVar[ConnectionLimits]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False  # some bytes of the awaited head have arrived

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        """Refuse a connection over the cap; otherwise the first head's clock starts now."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.connections.discard(self)  # at once: a burst of refusals must not count
            self.limits.note("connection_limit")
            transport.write(REFUSED)
            transport.close()
            return
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        """Stop the head clock once a request runs; start it on the first byte of the next."""
        super().data_received(data)
        if self._request_running():
            self._disarm_head_timer()
            self._head_started = False
            return
        self._head_started = True
        if self._head_timer is None:
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel the head clock with the connection."""
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _request_running(self) -> bool:
        """A whole head was parsed and its response is not finished (the app owns the time)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        """Close a connection whose head did not arrive in time (counted if it had begun)."""
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            self.limits.note("header_timeout")
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A protocol class bound to ``limits``, for ``uvicorn.Config(http=...)``.

    uvicorn builds each connection's protocol from the class alone, so the class has to carry
    the limits.
    """

    class BoundGuardedH11Protocol(GuardedH11Protocol):
        pass

    BoundGuardedH11Protocol.limits = limits
    return BoundGuardedH11Protocol
