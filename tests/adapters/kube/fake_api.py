"""A loopback fake of the Kubernetes API server that speaks the real wire protocol.

Why not kmock: its ``KubernetesEmulator`` serves lists with a placeholder resourceVersion
and replays every object on each watch, so it can neither expire a resourceVersion (410
Gone) nor resume a watch from one. This fake keeps a global resourceVersion counter and an
event history, like etcd behind the API server:

- ``GET`` a collection lists it with ``metadata.resourceVersion``;
- ``?watch=true&resourceVersion=N`` streams every later change as chunked JSON lines,
  honouring ``timeoutSeconds``, ``allowWatchBookmarks`` and ``fieldSelector=metadata.name=``;
- a resourceVersion older than the compaction point gets
  ``{"type":"ERROR","object":{"kind":"Status","code":410,...}}`` (or an HTTP 410);
- faults: abrupt stream drops, 503s, connection resets, lists held at a gate.

Every request is recorded (method, path, query) so tests assert on what the client sent.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class ResourceType:
    """One served resource: its group/version, plural, kind and scope."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``apps/v1`` or ``v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES = {
    r.plural: r
    for r in (
        ResourceType("apps", "v1", "deployments", "Deployment"),
        ResourceType("apps", "v1", "replicasets", "ReplicaSet"),
        ResourceType("", "v1", "pods", "Pod"),
        ResourceType("", "v1", "events", "Event"),
        ResourceType("", "v1", "namespaces", "Namespace", namespaced=False),
        ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
        ResourceType("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject"),
        ResourceType("argoproj.io", "v1alpha1", "rollouts", "Rollout"),
    )
}
CORE_PLURALS = frozenset(
    {"deployments", "replicasets", "pods", "events", "namespaces", "horizontalpodautoscalers"}
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    params: dict[str, str]
    at: float = 0.0

    @property
    def is_watch(self) -> bool:
        """Whether this was a watch request."""
        return self.params.get("watch") in ("true", "1", "True")


@dataclass
class _Change:
    rv: int
    plural: str
    type: str
    obj: dict[str, Any]


@dataclass
class _Route:
    resource: ResourceType
    namespace: str | None
    name: str | None


@dataclass
class _State:
    objects: dict[tuple[str, str | None, str], dict[str, Any]] = field(default_factory=dict)
    history: list[_Change] = field(default_factory=list)
    compacted: dict[str, int] = field(default_factory=dict)
    rv: int = 100


class FakeKubeApi:
    """A stateful fake API server bound to 127.0.0.1 on a free port."""

    def __init__(self, served: frozenset[str] = CORE_PLURALS) -> None:
        self.served = set(served)
        self.requests: list[RecordedRequest] = []
        self.mode = "ok"  # ok | unavailable (503) | reset (close without answering)
        self.retry_after: str | None = None
        self.forbidden: set[str] = set()
        self.watch_gone_as_status = False
        self.list_override: dict[str, Any] | None = None  # a body served for every list
        self.open_watches = 0
        self._established: dict[str, int] = {}
        self._state = _State()
        self._cond = threading.Condition()
        self._drop_generation = 0
        self._expire_generation = 0
        self._list_gate = threading.Event()
        self._list_gate.set()
        self._closing = False
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL for ``Configuration.host``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeKubeApi:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end every open watch."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._list_gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # ----- state changes (each one is a watch event) -----

    def put(self, plural: str, obj: dict[str, Any], *, notify: bool = True) -> dict[str, Any]:
        """Create or replace an object; returns it with its new resourceVersion.

        ``notify=False`` changes the object without a watch event: a watch cache that
        has not caught up yet (CH-13's delayed events), which only a live GET sees.
        """
        meta = obj.setdefault("metadata", {})
        resource = RESOURCES[plural]
        key = (plural, meta.get("namespace") if resource.namespaced else None, meta["name"])
        with self._cond:
            self._state.rv += 1
            meta["resourceVersion"] = str(self._state.rv)
            meta.setdefault("uid", f"uid-{plural}-{meta['name']}")
            event_type = "MODIFIED" if key in self._state.objects else "ADDED"
            stored: dict[str, Any] = json.loads(json.dumps(obj))
            self._state.objects[key] = stored
            if notify:
                self._state.history.append(_Change(self._state.rv, plural, event_type, stored))
            self._cond.notify_all()
        return stored

    def delete(self, plural: str, namespace: str | None, name: str) -> None:
        """Delete an object (a DELETED event carrying its last state)."""
        with self._cond:
            obj = self._state.objects.pop((plural, namespace, name))
            self._state.rv += 1
            gone = json.loads(json.dumps(obj))
            gone["metadata"]["resourceVersion"] = str(self._state.rv)
            self._state.history.append(_Change(self._state.rv, plural, "DELETED", gone))
            self._cond.notify_all()

    def current_rv(self) -> str:
        """The newest resourceVersion."""
        with self._cond:
            return str(self._state.rv)

    # ----- faults -----

    def expire(self) -> None:
        """Compact history: every known resourceVersion becomes too old (410 Gone)."""
        with self._cond:
            self._state.rv += 1
            for plural in RESOURCES:
                self._state.compacted[plural] = self._state.rv
            self._expire_generation += 1
            self._cond.notify_all()

    def drop_watches(self) -> None:
        """Abruptly close every open watch connection (no terminating chunk)."""
        with self._cond:
            self._drop_generation += 1
            self._cond.notify_all()

    def hold_lists(self) -> None:
        """Make list requests wait until ``release_lists``."""
        self._list_gate.clear()

    def release_lists(self) -> None:
        """Let held list requests answer."""
        self._list_gate.set()

    def established(self, plural: str) -> int:
        """How many watches of ``plural`` the fake has started streaming."""
        with self._cond:
            return self._established.get(plural, 0)

    def count(self, plural: str, *, watch: bool) -> int:
        """How many list (or watch) requests reached ``plural``."""
        return len(self.requests_for(plural, watch=watch))

    def requests_for(self, plural: str, *, watch: bool) -> list[RecordedRequest]:
        """The list (or watch) requests for ``plural``, oldest first."""
        with self._cond:
            recorded = list(self.requests)
        return [
            r
            for r in recorded
            if r.method == "GET" and r.path.endswith("/" + plural) and r.is_watch == watch
        ]

    # ----- serving (called from handler threads) -----

    def _record(self, method: str, path: str, params: dict[str, str]) -> None:
        with self._cond:
            self.requests.append(RecordedRequest(method, path, params, time.monotonic()))

    def _route(self, path: str) -> _Route | None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, rest = parts[1], parts[3:]
        else:
            return None
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in RESOURCES or rest[0] not in self.served:
            return None
        resource = RESOURCES[rest[0]]
        if resource.group != group:
            return None
        return _Route(resource, namespace, rest[1] if len(rest) > 1 else None)

    def _matches(self, route: _Route, obj: dict[str, Any], name: str | None) -> bool:
        meta = obj.get("metadata", {})
        if route.namespace is not None and meta.get("namespace") != route.namespace:
            return False
        return name is None or meta.get("name") == name

    def _list(self, route: _Route, name: str | None) -> dict[str, Any]:
        self._list_gate.wait(10)
        if self.list_override is not None:
            return self.list_override
        with self._cond:
            items = [
                obj
                for (plural, _, _), obj in sorted(self._state.objects.items(), key=str)
                if plural == route.resource.plural and self._matches(route, obj, name)
            ]
            return {
                "kind": route.resource.kind + "List",
                "apiVersion": route.resource.api_version,
                "metadata": {"resourceVersion": str(self._state.rv)},
                "items": items,
            }

    def _get(self, route: _Route) -> dict[str, Any] | None:
        with self._cond:
            for (plural, _, _), obj in self._state.objects.items():
                if plural == route.resource.plural and self._matches(route, obj, route.name):
                    return obj
        return None

    def _is_expired(self, plural: str, since: int) -> bool:
        with self._cond:
            return since < self._state.compacted.get(plural, 0)

    def _watch_events(
        self, route: _Route, params: dict[str, str], conn: socket.socket
    ) -> Iterator[dict[str, Any] | None]:
        """Yield watch events; ``None`` means drop the connection abruptly."""
        plural = route.resource.plural
        name = _field_name(params.get("fieldSelector", ""))
        deadline = time.monotonic() + float(params.get("timeoutSeconds", "30"))
        with self._cond:
            drop_gen, expire_gen = self._drop_generation, self._expire_generation
            self._established[plural] = self._established.get(plural, 0) + 1
            since_text = params.get("resourceVersion", "")
            if since_text in ("", "0"):
                since = self._state.rv
                current = [
                    obj
                    for (p, _, _), obj in self._state.objects.items()
                    if p == plural and self._matches(route, obj, name)
                ]
            else:
                since, current = int(since_text), []
        for obj in current:
            yield {"type": "ADDED", "object": obj}
        while True:
            with self._cond:
                if since < self._state.compacted.get(plural, 0):
                    yield _gone(since)
                    return
                changes = [c for c in self._state.history if c.plural == plural and c.rv > since]
                if not changes and not self._closing:
                    self._cond.wait(0.05)
                dropped = self._drop_generation != drop_gen
                expired = self._expire_generation != expire_gen
                closing = self._closing
            for change in changes:
                since = change.rv
                if self._matches(route, change.obj, name):
                    yield {"type": change.type, "object": change.obj}
            if dropped:
                yield None
                return
            if expired:
                continue  # the next round sends the ERROR 410
            if closing or time.monotonic() >= deadline or _peer_closed(conn):
                if params.get("allowWatchBookmarks") in ("true", "True", "1") and not closing:
                    yield _bookmark(route.resource, since)
                return


def _field_name(selector: str) -> str | None:
    if selector.startswith("metadata.name="):
        return selector.split("=", 1)[1]
    return None


def _gone(since: int) -> dict[str, Any]:
    return {
        "type": "ERROR",
        "object": _status(410, "Expired", f"too old resource version: {since}"),
    }


def _bookmark(resource: ResourceType, rv: int) -> dict[str, Any]:
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": resource.kind,
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(rv)},
        },
    }


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _peer_closed(conn: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-stream is the point of these tests: no tracebacks."""


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubeApi

    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.api._record("GET", url.path, params)
        if self._faulted():
            return
        route = self.api._route(url.path)
        if route is not None and route.resource.plural in self.api.forbidden:
            self._json(403, _status(403, "Forbidden", "RBAC: access denied"))
            return
        if route is None:
            self._json(404, _status(404, "NotFound", f"the server could not find {url.path}"))
            return
        if params.get("watch") in ("true", "1", "True"):
            self._watch(route, params)
        elif route.name is not None and not _field_name(params.get("fieldSelector", "")):
            obj = self.api._get(route)
            if obj is None:
                self._json(404, _status(404, "NotFound", f"{route.name} not found"))
            else:
                self._json(200, obj)
        else:
            self._json(200, self.api._list(route, _field_name(params.get("fieldSelector", ""))))

    def _faulted(self) -> bool:
        if self.api.mode == "unavailable":
            self._json(503, _status(503, "ServiceUnavailable", "etcd is down"))
            return True
        if self.api.mode == "reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        return False

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 503 and self.api.retry_after is not None:
            self.send_header("Retry-After", self.api.retry_after)
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, route: _Route, params: dict[str, str]) -> None:
        since = params.get("resourceVersion", "")
        if self.api.watch_gone_as_status and since not in ("", "0"):
            if self.api._is_expired(route.resource.plural, int(since)):
                self._json(410, _gone(int(since))["object"])
                return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with self.api._cond:
            self.api.open_watches += 1
        try:
            self._stream(route, params)
        except OSError:
            self.close_connection = True
        finally:
            with self.api._cond:
                self.api.open_watches -= 1

    def _stream(self, route: _Route, params: dict[str, str]) -> None:
        self.wfile.flush()
        for event in self.api._watch_events(route, params, self.connection):
            if event is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):X}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _handler_for(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"api": api})
