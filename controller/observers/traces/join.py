"""Bounded join of client spans with the server spans they caused, to name an edge's callee.

A CLIENT span without ``peer.service`` (or a known ``server.address``) does not say whom it
called, but the callee's SERVER span names it as its parent. The two halves arrive in either
order: with synchronous exporters the server span usually ends, and is exported, *first*. So
both sides wait in insertion-ordered maps keyed by (trace id, span id); each map holds at most
``capacity`` entries and evicts the oldest (R10: bounded queues), and entries older than the
retained window expire.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A client span waiting for its callee's name (its statistics are kept until then)."""

    caller: str
    bucket: int
    seconds: float
    error: bool


@dataclass(frozen=True, slots=True)
class ServerSide:
    """A server span that may be the child of a client span not seen yet."""

    service: str
    bucket: int


class CallJoiner:
    """Matches client spans and server spans by ``trace_id + span_id == trace_id + parent``."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._pending: OrderedDict[bytes, PendingCall] = OrderedDict()
        self._servers: OrderedDict[bytes, ServerSide] = OrderedDict()
        self.evicted = 0
        """Client spans pushed out by capacity before a join (their calls are lost)."""

    @property
    def pending(self) -> int:
        """Client spans currently waiting."""
        return len(self._pending)

    def client(self, key: bytes, call: PendingCall) -> ServerSide | None:
        """The server side if it already arrived; otherwise the call waits (None)."""
        server = self._servers.pop(key, None)
        if server is not None:
            return server
        if self._capacity == 0:
            self.evicted += 1
            return None
        self._pending[key] = call
        if len(self._pending) > self._capacity:
            self._pending.popitem(last=False)
            self.evicted += 1
        return None

    def server(self, key: bytes, side: ServerSide) -> PendingCall | None:
        """The waiting client call this server span answers, if any; otherwise remember the
        server side for a client span that may arrive later."""
        call = self._pending.pop(key, None)
        if call is not None:
            return call
        if self._capacity > 0:
            self._servers[key] = side
            if len(self._servers) > self._capacity:
                self._servers.popitem(last=False)
        return None

    def expire(self, horizon: int) -> int:
        """Forget entries from buckets at or before ``horizon``; return client calls lost."""
        lost = 0
        while self._pending and next(iter(self._pending.values())).bucket <= horizon:
            self._pending.popitem(last=False)
            lost += 1
        while self._servers and next(iter(self._servers.values())).bucket <= horizon:
            self._servers.popitem(last=False)
        return lost
