"""``WatchCache``: an in-memory, watch-fed copy of the cluster objects the controller reads.

One reflector thread per kind and scope (see ``reflector.py`` for the list/watch loop):
``len(SPECS)`` threads when every namespace is watched, ``len(SPECS) x len(namespaces)``
with an allow-list. The number is fixed at ``start`` and never grows: reconnects reuse
the thread, and every stream closes its connection before the next one opens.

Synced vs blind: the cache is *synced* only when every reflector has completed its
initial list and none is waiting for a forced re-list (after 410 Gone, repeated watch
failures, or an authorization error). An unsynced cache is blind (R6): ``unsynced()``
names each scope that is not synced and why, and the observer refuses to serve reads.

Objects are stored as the API's JSON (plain dicts); everything downstream is pure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiClient

from controller.kube.client import Timeouts
from controller.kube.reflector import Backoff, Reflector, ReflectorConfig, UnitStatus
from controller.kube.resources import SPECS, Kind, KindSpec, list_function
from controller.ports import Clock
from controller.settings import KubeSettings


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class WatchCache:
    """Lists and watches ``kinds`` in the namespaces of ``settings`` through ``api_client``.

    The caller owns ``api_client`` (close it after ``stop``). ``clock`` stamps the last
    successful contact for health reports; ``backoff`` and ``max_failures`` shape the
    reconnect policy (tests shrink the backoff).
    """

    def __init__(
        self,
        api_client: ApiClient,
        settings: KubeSettings,
        *,
        kinds: Sequence[KindSpec] = SPECS,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        max_failures: int = 3,
    ) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._clock: Clock = clock or _WallClock()
        config = ReflectorConfig(
            timeouts=Timeouts.from_settings(settings),
            resync=max(settings.resync.total_seconds(), 1.0),
            watch_timeout=max(settings.watch_timeout.total_seconds(), 1.0),
            backoff=backoff or Backoff(),
            max_failures=max(1, max_failures),
        )
        scopes: tuple[str | None, ...] = settings.namespaces or (None,)
        self._reflectors = [
            Reflector(
                spec,
                scope,
                list_function(api_client, spec, scope),
                config=config,
                stop=self._stop,
                clock=self._clock.now,
            )
            for spec in kinds
            for scope in scopes
        ]
        self._threads: list[threading.Thread] = []

    # ----- lifecycle -----

    def start(self) -> None:
        """Start one daemon thread per reflector (idempotent; a stopped cache stays stopped)."""
        if self._threads:
            return
        for reflector in self._reflectors:
            thread = threading.Thread(
                target=reflector.run, name=f"kube-watch-{reflector.label}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop every reflector and join the threads; True when all ended within ``timeout``."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        while True:
            for reflector in self._reflectors:
                reflector.interrupt()  # repeated: a watch may open just after the first call
            alive = [t for t in self._threads if t.is_alive()]
            remaining = deadline - time.monotonic()
            if not alive or remaining <= 0:
                return not alive
            alive[0].join(min(0.1, remaining))

    def __enter__(self) -> WatchCache:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def thread_count(self) -> int:
        """Reflector threads alive now (fixed at start; tests assert it never grows)."""
        return sum(1 for t in self._threads if t.is_alive())

    # ----- sync state -----

    def statuses(self) -> tuple[UnitStatus, ...]:
        """The state of every reflector."""
        return tuple(r.status() for r in self._reflectors)

    def synced(self) -> bool:
        """Whether every kind in every scope is listed and watched (not blind)."""
        return all(status.synced for status in self.statuses())

    def unsynced(self) -> dict[str, str]:
        """``{"deployments/shop": "re-list pending: 410 Gone: ..."}`` for each blind scope."""
        return {s.label: s.reason for s in self.statuses() if not s.synced}

    def wait_synced(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for ``synced()``; return it."""
        deadline = time.monotonic() + timeout
        while not self.synced():
            if time.monotonic() >= deadline or self._stop.is_set():
                return False
            self._stop.wait(0.02)
        return True

    def last_success(self) -> datetime | None:
        """When the *least* recently confirmed scope last heard from the API server."""
        stamps = [s.last_success for s in self.statuses()]
        if not stamps or any(stamp is None for stamp in stamps):
            return None
        return min(stamp for stamp in stamps if stamp is not None)

    # ----- reads -----

    def list(self, kind: Kind, namespace: str | None = None) -> tuple[dict[str, Any], ...]:
        """Cached objects of ``kind`` (in ``namespace`` when given), sorted by key."""
        found: list[dict[str, Any]] = []
        for reflector in self._reflectors:
            if reflector.spec.kind is kind:
                found.extend(reflector.objects())
        if namespace is not None and kind is not Kind.NAMESPACES:
            found = [o for o in found if (o.get("metadata") or {}).get("namespace") == namespace]
        return tuple(sorted(found, key=_sort_key))

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One cached object (``namespace`` None for cluster-scoped kinds), or None."""
        for reflector in self._reflectors:
            if reflector.spec.kind is kind:
                obj = reflector.get(namespace or "", name)
                if obj is not None:
                    return obj
        return None


def _sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
