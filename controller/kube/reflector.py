"""One reflector: list, then watch from the list's resourceVersion, for one kind in one scope.

The loop (client-go's Reflector, simplified) and when it is *synced*:

- **list** (initial, forced, or periodic every ``resync``), page by page
  (``limit``/``continue``), replaces the scope's objects atomically and remembers
  ``metadata.resourceVersion``;
- **watch** from that version with bookmarks and a server-side timeout; every event moves
  the remembered version forward; a clean end (timeout) just watches again;
- **dropped stream** (connection cut, 5xx, read timeout): watch again *from the last
  seen version*, after a bounded, jittered backoff. A stream that the server accepted
  resets the failure count, so routine disconnects never re-list;
- **410 Gone** (an ``ERROR`` event or an HTTP 410): the version expired, events were lost:
  the scope is unsynced until a re-list completes;
- **repeated failures** (``max_failures`` attempts in a row that never reached the
  server, or any 401/403): the data can no longer be trusted, same as 410.

An optional kind (a CRD) answering 404 on list is *absent*: synced and empty, re-checked at
every resync. A periodic re-list keeps the scope synced: the watch was healthy up to it,
and the new list replaces the objects in one step.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from kubernetes import watch as kube_watch

from controller.errors import AiopsError, PermanentError
from controller.kube.client import Timeouts
from controller.kube.errors import GoneError, KubeTemporaryError, NotFoundError, translated
from controller.kube.resources import KindSpec, ListFunction, object_key, trimmed

log = structlog.get_logger("aiops.kube")

LIST_PAGE_SIZE = 500
"""Objects per list page (``limit``): a big namespace is listed in bounded chunks."""
MAX_LIST_PAGES = 200
"""Pages per list at most (100,000 objects of one kind in one scope)."""


class Phase(StrEnum):
    """Where a reflector is. Only SYNCED and ABSENT count as synced."""

    LISTING = "initial list pending"
    RELISTING = "re-list pending"
    SYNCED = "synced"
    ABSENT = "not installed"


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """A reflector's state as seen from outside."""

    spec: KindSpec
    namespace: str | None
    phase: Phase
    detail: str
    resource_version: str | None
    last_success: datetime | None

    @property
    def synced(self) -> bool:
        """Whether this scope's objects are complete and current."""
        return self.phase in (Phase.SYNCED, Phase.ABSENT)

    @property
    def label(self) -> str:
        """``deployments`` or ``deployments/shop``."""
        kind = self.spec.kind.value
        return kind if self.namespace is None else f"{kind}/{self.namespace}"

    @property
    def reason(self) -> str:
        """Why it is not synced (the phase, plus the last failure when there was one)."""
        return f"{self.phase.value}: {self.detail}" if self.detail else self.phase.value


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits in [d/2, d], d = initial*2^(n-1)."""

    initial: float = 0.5
    maximum: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (bounded by ``maximum``)."""
        exponent = min(max(attempt, 1) - 1, 30)
        ceiling = min(self.maximum, self.initial * 2.0**exponent)
        return ceiling * (0.5 + 0.5 * self.rng.random())


class _RawWatch(kube_watch.Watch):
    """The client's Watch, yielding the raw JSON objects instead of generated models.

    The generated models (pydantic since client 35) reject partial objects and drop
    fields they do not know, such as everything in a CRD; the cache keeps the API's JSON.
    """

    def get_return_type(self, func: Any) -> Any:
        """No model: ``unmarshal_event`` then leaves ``object`` as the decoded dict."""
        return None


@dataclass(frozen=True, slots=True)
class ReflectorConfig:
    """Timing knobs shared by every reflector of a cache."""

    timeouts: Timeouts
    resync: float
    watch_timeout: float
    backoff: Backoff
    max_failures: int = 3


class Reflector:
    """Keeps one kind in one scope (a namespace, or None for the cluster) in memory."""

    def __init__(
        self,
        spec: KindSpec,
        namespace: str | None,
        list_fn: ListFunction,
        *,
        config: ReflectorConfig,
        stop: threading.Event,
        clock: Callable[[], datetime],
    ) -> None:
        self.spec = spec
        self.namespace = namespace
        self._list_fn = list_fn
        self._config = config
        self._stop = stop
        self._clock = clock
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._phase = Phase.LISTING
        self._detail = ""
        self._rv: str | None = None
        self._last_success: datetime | None = None
        self._listed_at = 0.0
        self._failures = 0
        self._gones = 0
        self._watch = _RawWatch()  # type: ignore[no-untyped-call]  # the client's watch is unannotated

    # ----- reads (any thread) -----

    def status(self) -> UnitStatus:
        """A consistent snapshot of the state."""
        with self._lock:
            return UnitStatus(
                self.spec, self.namespace, self._phase, self._detail, self._rv, self._last_success
            )

    def objects(self) -> list[dict[str, Any]]:
        """Every cached object of this scope (never mutated in place: treat as read-only)."""
        with self._lock:
            return list(self._objects.values())

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One cached object, or None."""
        with self._lock:
            return self._objects.get((namespace, name))

    @property
    def label(self) -> str:
        """``kind`` or ``kind/namespace``, for logs and reasons."""
        kind = self.spec.kind.value
        return kind if self.namespace is None else f"{kind}/{self.namespace}"

    # ----- the loop (its own thread) -----

    def run(self) -> None:
        """List and watch until the stop event is set."""
        while not self._stop.is_set():
            delay = self._guarded_step()
            if delay > 0:
                self._stop.wait(delay)

    def interrupt(self) -> None:
        """Close the open watch so that ``run`` notices the stop event at once."""
        self._watch.stop()  # type: ignore[no-untyped-call]

    def _guarded_step(self) -> float:
        try:
            return self._step()
        except Exception as exc:
            # Supervisor boundary: a reflector thread that died would leave its scope
            # looking synced while it silently went stale (CH-13). Anything unexpected
            # (a malformed event, a client bug) unsyncs the scope and re-lists after a pause.
            log.error("reflector step failed", unit=self.label, exc_info=True)
            self._failures += 1
            self._force_relist(f"unexpected {type(exc).__name__}: {exc}")
            return self._config.backoff.delay(self._failures)

    def _step(self) -> float:
        if self._rv is None or self._resync_due():
            return self._list_step()
        return self._watch_step()

    def _resync_due(self) -> bool:
        return time.monotonic() - self._listed_at >= self._config.resync

    # ----- list -----

    def _list_step(self) -> float:
        try:
            self._list()
        except NotFoundError as exc:
            if self.spec.optional:
                self._mark_absent()
                return self._config.resync
            return self._list_failed(exc)
        except AiopsError as exc:
            return self._list_failed(exc)
        return 0.0

    def _list(self) -> None:
        items, version = self._pages()
        objects = {object_key(o): trimmed(self.spec.kind, o) for o in items if isinstance(o, dict)}
        with self._lock:
            self._objects = objects
            self._rv = str(version)
            self._phase, self._detail = Phase.SYNCED, ""
            self._last_success = self._clock()
        self._listed_at = time.monotonic()
        self._failures = 0
        log.debug("listed", unit=self.label, objects=len(objects), resource_version=version)

    def _pages(self) -> tuple[list[Any], str]:
        """Every item of a paginated list (``limit``/``continue``) and its resourceVersion.

        The pages are one consistent snapshot (the API server's continue token pins it); a
        token that expired mid-way is a 410, and the next step lists afresh.
        """
        items: list[Any] = []
        token: str | None = None
        for _ in range(MAX_LIST_PAGES):
            with translated(f"list {self.label}"):
                response = self._list_fn(
                    limit=LIST_PAGE_SIZE,
                    _continue=token,
                    _preload_content=False,
                    _request_timeout=self._config.timeouts.request(),
                )
                try:
                    body = json.loads(response.data)
                finally:
                    response.release_conn()
            metadata = body.get("metadata") or {}
            version = metadata.get("resourceVersion")
            if not version:
                raise KubeTemporaryError(f"list {self.label}: the response has no resourceVersion")
            items.extend(body.get("items") or [])
            token = metadata.get("continue") or None
            if token is None:
                return items, str(version)
        raise KubeTemporaryError(f"list {self.label}: more than {MAX_LIST_PAGES} pages")

    def _mark_absent(self) -> None:
        with self._lock:
            self._objects = {}
            self._rv = None
            self._phase, self._detail = Phase.ABSENT, ""
            self._last_success = self._clock()
        self._listed_at = time.monotonic()
        self._failures = 0
        log.debug("optional kind not served", unit=self.label)

    def _list_failed(self, exc: AiopsError) -> float:
        self._failures += 1
        with self._lock:
            self._detail = f"list failed ({self._failures} in a row): {exc}"
            if (
                self._phase in (Phase.SYNCED, Phase.ABSENT)
                and self._failures >= self._config.max_failures
            ):
                # A periodic re-list that keeps failing: the watch is not running either.
                self._phase = Phase.RELISTING
        log.info("list failed", unit=self.label, attempt=self._failures, error=str(exc))
        return self._retry_delay(exc)

    # ----- watch -----

    def _watch_step(self) -> float:
        events = self._stream()
        try:
            for event in events:
                self._apply(event)
        except GoneError as exc:
            return self._gone(exc)
        except AiopsError as exc:
            return self._watch_failed(exc)
        finally:
            events.close()  # releases the connection even when _apply raised
        self._gones = 0
        self._touch()
        return 0.0

    def _stream(self) -> Generator[Any, None, None]:
        elapsed = time.monotonic() - self._listed_at
        seconds = max(1, math.ceil(min(self._config.watch_timeout, self._config.resync - elapsed)))
        with translated(f"watch {self.label}"):
            yield from self._watch.stream(  # type: ignore[no-untyped-call]
                self._establish,
                resource_version=self._rv,
                allow_watch_bookmarks=True,
                timeout_seconds=seconds,
                _request_timeout=self._config.timeouts.watch(seconds),
            )

    def _establish(self, **kwargs: Any) -> Any:
        """Send the watch request; returning means the server accepted the watch."""
        response = self._list_fn(**kwargs)
        if self._stop.is_set():
            # stop() may have run before Watch.stream reset its own stop flag: end the
            # stream now instead of waiting for its server-side timeout.
            response.close()
        self._failures = 0
        self._touch()
        return response

    def _apply(self, event: Any) -> None:
        # The client yields None for a line that is not JSON; skip it like any non-object.
        obj = event.get("object") if isinstance(event, dict) else None
        if not isinstance(obj, dict):
            return
        version = (obj.get("metadata") or {}).get("resourceVersion")
        key = object_key(obj)
        with self._lock:
            if event.get("type") in ("ADDED", "MODIFIED"):
                self._objects[key] = trimmed(self.spec.kind, obj)
            elif event.get("type") == "DELETED":
                self._objects.pop(key, None)
            if version:
                self._rv = str(version)
            self._last_success = self._clock()
        self._gones = 0

    def _gone(self, exc: GoneError) -> float:
        self._gones += 1
        self._force_relist(f"410 Gone: {exc}")
        log.info("watch expired, re-listing", unit=self.label, error=str(exc))
        # One 410 re-lists at once; a server that keeps answering 410 gets backoff.
        return 0.0 if self._gones == 1 else self._config.backoff.delay(self._gones - 1)

    def _watch_failed(self, exc: AiopsError) -> float:
        if self._stop.is_set():
            return 0.0
        self._failures += 1
        if isinstance(exc, NotFoundError) and self.spec.optional:
            self._force_relist(f"watch answered 404: {exc}")
            return 0.0
        if isinstance(exc, PermanentError) or self._failures >= self._config.max_failures:
            self._force_relist(f"watch failed ({self._failures} in a row): {exc}")
        log.info("watch dropped", unit=self.label, attempt=self._failures, error=str(exc))
        return self._retry_delay(exc)

    # ----- state helpers -----

    def _retry_delay(self, exc: AiopsError) -> float:
        attempt = self._failures
        if isinstance(exc, PermanentError):
            attempt = max(attempt, self._config.max_failures + 2)
        delay = self._config.backoff.delay(attempt)
        server_wait = exc.retry_after if isinstance(exc, KubeTemporaryError) else None
        # Honour Retry-After (every wait >= what the server asked), up to one resync period.
        return max(delay, min(server_wait or 0.0, self._config.resync))

    def _force_relist(self, detail: str) -> None:
        with self._lock:
            self._rv = None
            if self._phase is not Phase.LISTING:
                self._phase = Phase.RELISTING
            self._detail = detail

    def _touch(self) -> None:
        with self._lock:
            self._last_success = self._clock()
