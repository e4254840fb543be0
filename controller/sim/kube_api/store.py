"""The fake's etcd: objects, one global resourceVersion counter and a bounded change history.

Like etcd behind the API server, every stored change takes the next resourceVersion and is
kept as a watch event until it is compacted away: a watch or a continue token older than
the compaction point gets 410 Gone. The history is bounded (``max_history`` changes), so a
long-running demo compacts on its own. One condition variable guards everything; watchers
wait on it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.sim.kube_api.resources import RESOURCES, Key, ResourceType, Route
from controller.sim.kube_api.selectors import Matcher
from controller.sim.kube_api.status import bad_request, expired

Obj = dict[str, Any]


def utc_now() -> datetime:
    """Wall-clock UTC (the default clock of the store)."""
    return datetime.now(UTC)


def rfc3339(when: datetime) -> str:
    """``2026-03-10T12:00:00Z``, the API's timestamp format (whole seconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Change:
    """One watch event as stored: the version it took, its kind and the object after it."""

    rv: int
    plural: str
    type: str
    obj: Obj


@dataclass(frozen=True)
class Page:
    """One page of a list: the items, the snapshot version and the continue token."""

    items: list[Obj]
    resource_version: int
    continue_token: str
    remaining: int


class Store:
    """Objects by ``(plural, namespace, name)`` with resource versions and history."""

    def __init__(
        self, *, clock: Callable[[], datetime] = utc_now, max_history: int = 10_000
    ) -> None:
        self.cond = threading.Condition()
        self.clock = clock
        self.max_history = max(1, max_history)
        self.objects: dict[Key, Obj] = {}
        self.history: list[Change] = []
        self.compacted: dict[str, int] = {}
        self.rv = 100
        self.drop_generation = 0
        self.expire_generation = 0
        self.closing = False

    # ----- writes (callers hold no lock; each takes it) -----

    def key_of(self, plural: str, obj: Obj) -> Key:
        """The store key of ``obj`` of type ``plural``."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") if RESOURCES[plural].namespaced else None
        return (plural, namespace, str(meta["name"]))

    def put(self, plural: str, obj: Obj, *, notify: bool = True) -> Obj:
        """Create or replace ``obj`` as given (seeding: no validation); returns the stored copy."""
        meta = obj.setdefault("metadata", {})
        key = self.key_of(plural, obj)
        with self.cond:
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            meta.setdefault("uid", f"uid-{plural}-{meta['name']}")
            event = "MODIFIED" if key in self.objects else "ADDED"
            stored: Obj = copy.deepcopy(obj)
            self.objects[key] = stored
            if notify:
                self._record(Change(self.rv, plural, event, stored))
            self.cond.notify_all()
        return copy.deepcopy(stored)

    def commit(self, key: Key, obj: Obj) -> Obj:
        """Store a write accepted by the HTTP layer (caller holds ``cond``): next version."""
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        self.objects[key] = obj
        self._record(Change(self.rv, key[0], "MODIFIED", obj))
        self.cond.notify_all()
        return copy.deepcopy(obj)

    def create(self, key: Key, obj: Obj) -> Obj:
        """Store a new object (caller holds ``cond``), stamping uid and creationTimestamp."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{key[0]}-{key[2]}")
        meta.setdefault("creationTimestamp", rfc3339(self.clock()))
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.objects[key] = obj
        self._record(Change(self.rv, key[0], "ADDED", obj))
        self.cond.notify_all()
        return copy.deepcopy(obj)

    def touch(self, key: Key) -> None:
        """Another client's write: the object gets a new annotation and resourceVersion."""
        with self.cond:
            current = self.objects.get(key)
            if current is None:
                return
            new = copy.deepcopy(current)
            notes = new.setdefault("metadata", {}).setdefault("annotations", {})
            notes["fake.k8s.io/touched"] = str(int(notes.get("fake.k8s.io/touched", "0")) + 1)
            self.commit(key, new)

    def delete(self, plural: str, namespace: str | None, name: str) -> None:
        """Delete an object (a DELETED event carrying its last state)."""
        with self.cond:
            obj = self.objects.pop((plural, namespace, name))
            self.rv += 1
            gone = copy.deepcopy(obj)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._record(Change(self.rv, plural, "DELETED", gone))
            self.cond.notify_all()

    def _record(self, change: Change) -> None:
        self.history.append(change)
        overflow = len(self.history) - self.max_history
        if overflow > 0:
            dropped, self.history = self.history[:overflow], self.history[overflow:]
            for old in dropped:  # events before this version are gone: a watch there is 410
                self.compacted[old.plural] = max(self.compacted.get(old.plural, 0), old.rv + 1)

    def expire(self) -> None:
        """Compact everything: every known resourceVersion becomes too old (410 Gone)."""
        with self.cond:
            self.rv += 1
            for plural in RESOURCES:
                self.compacted[plural] = self.rv
            self.expire_generation += 1
            self.cond.notify_all()

    # ----- reads -----

    def get(self, key: Key) -> Obj | None:
        """A copy of one object, or None."""
        with self.cond:
            found = self.objects.get(key)
            return copy.deepcopy(found) if found is not None else None

    def is_expired(self, plural: str, since: int) -> bool:
        """Whether events after ``since`` were compacted away."""
        with self.cond:
            return since < self.compacted.get(plural, 0)

    def matching(self, route: Route, matcher: Matcher) -> list[tuple[Key, Obj]]:
        """Objects of the route's type and namespace that ``matcher`` accepts, by key."""
        with self.cond:
            return self._matching_locked(route.resource, route.namespace, matcher)

    def _matching_locked(
        self, resource: ResourceType, namespace: str | None, matcher: Matcher
    ) -> list[tuple[Key, Obj]]:
        found = [
            (key, obj)
            for key, obj in self.objects.items()
            if key[0] == resource.plural
            and (namespace is None or key[1] == namespace)
            and matcher(obj)
        ]
        return sorted(found, key=lambda pair: (pair[0][1] or "", pair[0][2]))

    def page(self, route: Route, matcher: Matcher, *, limit: int | None, token: str | None) -> Page:
        """One page of a list (``limit``/``continue``) at its first page's resourceVersion.

        Later pages leave out objects created after the first page, as a consistent
        snapshot would; an object changed in between shows its newer state (a deviation:
        etcd would serve the old one).
        """
        plural = route.resource.plural
        snapshot, after = _decode(token) if token else (None, None)
        with self.cond:
            if snapshot is not None and snapshot < self.compacted.get(plural, 0):
                raise expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
            version = snapshot if snapshot is not None else self.rv
            found = self._matching_locked(route.resource, route.namespace, matcher)
            if snapshot is not None:  # objects created after the first page are not listed
                born = {
                    self.key_of(c.plural, c.obj)
                    for c in self.history
                    if c.plural == plural and c.type == "ADDED" and c.rv > snapshot
                }
                found = [p for p in found if p[0] not in born]
            if after is not None:
                found = [p for p in found if (p[0][1] or "", p[0][2]) > after]
            chosen = found if not limit else found[:limit]
            rest = len(found) - len(chosen)
            items = [copy.deepcopy(obj) for _, obj in chosen]
        next_token = ""
        if rest > 0 and chosen:
            last = chosen[-1][0]
            next_token = _encode(version, (last[1] or "", last[2]))
        return Page(items, version, next_token, rest)


def _encode(version: int, after: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": version, "start": list(after)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[int, tuple[str, str]]:
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        start = body["start"]
        return int(body["rv"]), (str(start[0]), str(start[1]))
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from exc
