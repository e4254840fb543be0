"""Watch streams: every change after a resourceVersion, as JSON lines, until a deadline.

- ``resourceVersion`` empty or ``0``: the current objects as ADDED, then later changes;
- a version older than the compaction point: ``{"type": "ERROR", "object": <Status 410>}``;
- ``timeoutSeconds`` ends the stream cleanly (a BOOKMARK first when
  ``allowWatchBookmarks=true``), as does the client hanging up;
- ``fieldSelector=metadata.name=`` narrows the stream to one object.

``drop_watches`` ends every stream abruptly (no terminating chunk), ``expire`` compacts.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from typing import Any

from controller.sim.kube_api.resources import ResourceType, Route
from controller.sim.kube_api.selectors import field_name
from controller.sim.kube_api.status import status_body
from controller.sim.kube_api.store import Store

Obj = dict[str, Any]

MAX_WATCH_SECONDS = 600.0
"""The longest a watch stream stays open, whatever ``timeoutSeconds`` asks."""


def gone_event(since: int) -> Obj:
    """The ERROR event of a watch from a compacted resourceVersion."""
    return {
        "type": "ERROR",
        "object": status_body(410, "Expired", f"too old resource version: {since}"),
    }


def bookmark(resource: ResourceType, rv: int) -> Obj:
    """A BOOKMARK event: the stream is current up to ``rv``."""
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": resource.kind,
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(rv)},
        },
    }


def _matches(route: Route, obj: Obj, name: str | None) -> bool:
    meta = obj.get("metadata", {})
    if route.namespace is not None and meta.get("namespace") != route.namespace:
        return False
    return name is None or meta.get("name") == name


def peer_closed(conn: socket.socket) -> bool:
    """Whether the client hung up (a readable socket with nothing to read)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def watch_events(
    store: Store, route: Route, params: dict[str, str], conn: socket.socket
) -> Iterator[Obj | None]:
    """Yield watch events; ``None`` means: drop the connection abruptly."""
    plural = route.resource.plural
    name = field_name(params.get("fieldSelector", ""))
    seconds = min(float(params.get("timeoutSeconds", "30") or 30), MAX_WATCH_SECONDS)
    deadline = time.monotonic() + seconds
    with store.cond:
        drop_gen, expire_gen = store.drop_generation, store.expire_generation
        since_text = params.get("resourceVersion", "")
        if since_text in ("", "0"):
            since = store.rv
            current = [
                obj
                for (p, _, _), obj in store.objects.items()
                if p == plural and _matches(route, obj, name)
            ]
        else:
            since, current = int(since_text), []
    for obj in current:
        yield {"type": "ADDED", "object": obj}
    while True:
        with store.cond:
            if since < store.compacted.get(plural, 0):
                yield gone_event(since)
                return
            changes = [c for c in store.history if c.plural == plural and c.rv > since]
            if not changes and not store.closing:
                store.cond.wait(0.05)
            dropped = store.drop_generation != drop_gen
            expired = store.expire_generation != expire_gen
            closing = store.closing
        for change in changes:
            since = change.rv
            if _matches(route, change.obj, name):
                yield {"type": change.type, "object": change.obj}
        if dropped:
            yield None
            return
        if expired:
            continue  # the next round sends the ERROR 410
        if closing or time.monotonic() >= deadline or peer_closed(conn):
            if params.get("allowWatchBookmarks") in ("true", "True", "1") and not closing:
                yield bookmark(route.resource, since)
            return
