"""Switchable faults: what a struggling API server or network does to a client.

A fault matches requests by method, path fragment and dry-run flag, fires ``times`` times
(or until cleared) and does one of:

- ``status``: answer a Status failure, such as 429 TooManyRequests with ``Retry-After``
  (API Priority and Fairness), 500 InternalError or 503 ServiceUnavailable;
- ``reset``: close the connection without answering (a dropped TCP connection);
- ``lost``: handle the request (a write is stored), then close the connection instead of
  answering: the client cannot tell whether its write landed;
- ``touch``: another client writes the ``touch`` object just before this request is
  handled (a concurrent update: a conditional write then meets 409);
- ``slow``: hold the response for ``delay`` seconds, then answer normally.

``delay`` also applies before a status or a reset. Every delay is capped at
``MAX_DELAY`` so that no test can park a server thread for long.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, Unpack

from controller.sim.kube_api.status import ApiError, server_error, too_many_requests

MAX_DELAY = 30.0
"""Seconds: the longest a fault may hold a response."""

Action = Literal["status", "reset", "lost", "touch", "slow"]


class Match(TypedDict, total=False):
    """Which requests a fault hits (every key optional; absent means any)."""

    methods: set[str] | frozenset[str]
    path_contains: str
    dry_run: bool
    times: int


def _matching(match: Match) -> dict[str, Any]:
    found: dict[str, Any] = dict(match)
    if "methods" in found:
        found["methods"] = frozenset(m.upper() for m in found["methods"])
    return found


@dataclass
class Fault:
    """One injected failure and which requests it hits."""

    action: Action
    code: int = 0
    retry_after: int | None = None
    delay: float = 0.0
    methods: frozenset[str] = frozenset()
    path_contains: str = ""
    dry_run: bool | None = None
    times: int | None = None
    touch: tuple[str, str | None, str] | None = None
    fired: int = field(default=0, init=False)

    @classmethod
    def too_many_requests(cls, retry_after: int = 1, **match: Unpack[Match]) -> Fault:
        """429 with ``Retry-After: retry_after``."""
        return cls("status", 429, retry_after=retry_after, **_matching(match))

    @classmethod
    def server_error(
        cls, code: int = 500, retry_after: int | None = None, **match: Unpack[Match]
    ) -> Fault:
        """500 InternalError or 503 ServiceUnavailable."""
        return cls("status", code, retry_after=retry_after, **_matching(match))

    @classmethod
    def reset(cls, **match: Unpack[Match]) -> Fault:
        """Close the connection without an answer."""
        return cls("reset", **_matching(match))

    @classmethod
    def lost_response(cls, **match: Unpack[Match]) -> Fault:
        """Handle the request, then drop the connection instead of answering."""
        return cls("lost", **_matching(match))

    @classmethod
    def concurrent_write(
        cls, plural: str, namespace: str | None, name: str, **match: Unpack[Match]
    ) -> Fault:
        """Another client changes ``plural/namespace/name`` right before the request."""
        return cls("touch", touch=(plural, namespace, name), **_matching(match))

    @classmethod
    def slow(cls, delay: float, **match: Unpack[Match]) -> Fault:
        """Answer normally after ``delay`` seconds."""
        return cls("slow", delay=delay, **_matching(match))

    def matches(self, method: str, path: str, dry_run: bool) -> bool:
        """Whether this fault hits a request (and still has shots left)."""
        if self.times is not None and self.fired >= self.times:
            return False
        if self.methods and method not in self.methods:
            return False
        if self.dry_run is not None and self.dry_run != dry_run:
            return False
        return self.path_contains in path

    def error(self) -> ApiError:
        """The Status failure a ``status`` fault answers with."""
        if self.code == 429:
            return too_many_requests(self.retry_after if self.retry_after is not None else 1)
        return server_error(self.code, self.retry_after)

    @property
    def hold(self) -> float:
        """Seconds to hold the response (bounded)."""
        return max(0.0, min(self.delay, MAX_DELAY))


class Faults:
    """The active faults of one fake server; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Activate ``fault`` (after the ones already active); returns it for inspection."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Deactivate every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, dry_run: bool) -> Fault | None:
        """The first active fault hitting this request, counted as fired."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, dry_run):
                    fault.fired += 1
                    return fault
        return None
