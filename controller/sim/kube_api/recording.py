"""The request log: every request the fake received, the ground truth of what was written.

In CI the log is what proves an invariant such as I1 (no mutating request outside the
allow-list) or I5 (one effect per approved step): tests read it instead of trusting the
client's own account.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (``params``: the query, last value per key)."""

    method: str
    path: str
    params: dict[str, str]
    at: float = 0.0
    body: Any = None
    content_type: str = ""
    user_agent: str = ""
    status: int = 0

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (same as ``params``)."""
        return self.params

    @property
    def is_watch(self) -> bool:
        """Whether this was a watch request."""
        return self.params.get("watch") in ("true", "1", "True")

    @property
    def dry_run(self) -> bool:
        """Whether the request asked for a server-side dry run (``dryRun=All``)."""
        return "dryRun" in self.params

    @property
    def mutating(self) -> bool:
        """Whether the method can change state (dry runs included)."""
        return self.method in MUTATING_METHODS


def decode_body(raw: bytes) -> Any:
    """The request body as JSON when it is JSON, else the text, else None."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


@dataclass
class RequestLog:
    """A thread-safe, append-only list of requests with the questions tests ask of it."""

    _entries: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: RecordedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(request)

    def finish(self, index: int, status: int) -> None:
        """Attach the response status to entry ``index``."""
        with self._lock:
            entry = self._entries[index]
            self._entries[index] = RecordedRequest(
                entry.method, entry.path, entry.params, entry.at, entry.body,
                entry.content_type, entry.user_agent, status,
            )  # fmt: skip

    def record(self, method: str, path: str, params: dict[str, str], **extra: Any) -> int:
        """Append a request now; return its index (for ``finish``)."""
        request = RecordedRequest(method, path, params, time.monotonic(), **extra)
        with self._lock:
            self._entries.append(request)
            return len(self._entries) - 1

    def all(self) -> list[RecordedRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._entries)

    def mutations(self, *, dry_run: bool | None = None) -> list[RecordedRequest]:
        """Mutating requests; ``dry_run`` True or False keeps only dry runs or real writes."""
        return [r for r in self.all() if r.mutating and (dry_run is None or r.dry_run is dry_run)]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._entries.clear()
