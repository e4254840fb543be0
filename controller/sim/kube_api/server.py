"""``FakeKubeApi``: the loopback HTTP server that speaks the Kubernetes API wire protocol.

It binds to 127.0.0.1 only, on a free port, and stops itself after ``max_lifetime`` seconds
at the latest (every watch, every held list and every slowed response ends with it).
Verbs: GET (objects, lists, watches, subresources), PATCH and PUT (objects, ``/scale``,
``/status``), POST of a Lease, a ConfigMap or a custom resource installed from a CRD
(``install_crd``; ``handlers.creatable``). Anything else is answered 405: the
fake creates nothing else and deletes nothing over HTTP, which is also what the
controller's RBAC allows. Tests seed and change state directly with
``put``/``delete`` (each a watch event, as a write by another client would be).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from controller.sim.kube_api.controllers import sync_deployment
from controller.sim.kube_api.crds import DEFINITIONS, register, table, wants_table
from controller.sim.kube_api.faults import Fault, Faults
from controller.sim.kube_api.handlers import (
    WriteRequest,
    creatable,
    create,
    list_objects,
    read_object,
    write,
)
from controller.sim.kube_api.recording import RecordedRequest, RequestLog, decode_body
from controller.sim.kube_api.resources import CORE_PLURALS, Key, Route, parse_route
from controller.sim.kube_api.status import (
    ApiError,
    forbidden,
    method_not_allowed,
    path_not_found,
    server_error,
)
from controller.sim.kube_api.store import Store, utc_now
from controller.sim.kube_api.watch import gone_event, watch_events

Obj = dict[str, Any]
MAX_BODY = 4 * 1024 * 1024
"""Bytes: a larger request body is refused (413), as the API server's limit does."""


class FakeKubeApi:
    """A stateful fake API server bound to 127.0.0.1 on a free port.

    Faults: ``faults.add(Fault.too_many_requests(retry_after=2, methods={"PATCH"}, times=1))``
    and the legacy switches ``mode`` (``ok``, ``unavailable`` = 503 with ``retry_after``,
    ``reset`` = connections closed unanswered), ``forbidden`` (plurals answered 403),
    ``watch_gone_as_status``, ``list_override`` (a body served for every list) and
    ``hold_lists``/``release_lists``. The request log (``log``, ``requests``) keeps method,
    path, query, body, content type, user agent and response status of every request.
    """

    def __init__(
        self,
        served: frozenset[str] | set[str] = CORE_PLURALS,
        *,
        deployment_controller: bool = False,
        clock: Callable[[], datetime] = utc_now,
        max_lifetime: float = 600.0,
        max_history: int = 10_000,
    ) -> None:
        self.served = set(served)
        self.store = Store(clock=clock, max_history=max_history)
        self.log = RequestLog()
        self.faults = Faults()
        self.mode = "ok"  # ok | unavailable (503) | reset (close without answering)
        self.retry_after: str | None = None
        self.forbidden: set[str] = set()
        self.watch_gone_as_status = False
        self.list_override: Obj | None = None
        self.deployment_controller = deployment_controller
        self.open_watches = 0
        self.internal_errors: list[str] = []
        """Unexpected exceptions while serving (a bug in the fake); tests expect none."""
        self.max_lifetime = max_lifetime
        self._established: dict[str, int] = {}
        self._list_gate = threading.Event()
        self._list_gate.set()
        self._stopping = threading.Event()
        self._stopped = False
        self._timer: threading.Timer | None = None
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # ----- lifetime -----

    @property
    def url(self) -> str:
        """Base URL for ``Configuration.host``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeKubeApi:
        """Serve in a background thread, for at most ``max_lifetime`` seconds."""
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and end every open watch (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        self._stopping.set()
        with self.store.cond:
            self.store.closing = True
            self.store.cond.notify_all()
        self._list_gate.set()
        self._server.shutdown()
        self._server.server_close()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)

    def __enter__(self) -> FakeKubeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- state (each change is a watch event) -----

    def install_crd(self, manifest: Obj) -> str:
        """Serve the custom resource a CRD manifest defines, its schema enforced (``crds``);
        returns its plural. ``InputError`` when the CRD is not one the fake can enforce."""
        plural = register(manifest).resource.plural
        self.served.add(plural)
        return plural

    def put(self, plural: str, obj: Obj, *, notify: bool = True) -> Obj:
        """Create or replace an object as given; returns it with its new resourceVersion.

        ``notify=False`` changes the object without a watch event: a watch cache that has
        not caught up yet (CH-13's delayed events), which only a live GET sees.
        """
        return self.store.put(plural, obj, notify=notify)

    def delete(self, plural: str, namespace: str | None, name: str) -> None:
        """Delete an object (a DELETED event carrying its last state)."""
        self.store.delete(plural, namespace, name)

    def get(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """A copy of the stored object, or None."""
        return self.store.get((plural, namespace, name))

    def current_rv(self) -> str:
        """The newest resourceVersion."""
        with self.store.cond:
            return str(self.store.rv)

    # ----- faults -----

    def expire(self) -> None:
        """Compact history: every known resourceVersion becomes too old (410 Gone)."""
        self.store.expire()

    def drop_watches(self) -> None:
        """Abruptly close every open watch connection (no terminating chunk)."""
        with self.store.cond:
            self.store.drop_generation += 1
            self.store.cond.notify_all()

    def hold_lists(self) -> None:
        """Make list requests wait until ``release_lists``."""
        self._list_gate.clear()

    def release_lists(self) -> None:
        """Let held list requests answer."""
        self._list_gate.set()

    def inject(self, fault: Fault) -> Fault:
        """Activate a fault (shorthand for ``faults.add``)."""
        return self.faults.add(fault)

    # ----- the request log -----

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first."""
        return self.log.all()

    def mutations(self, *, dry_run: bool | None = None) -> list[RecordedRequest]:
        """PATCH/PUT/POST/DELETE requests (``dry_run`` False: only real writes)."""
        return self.log.mutations(dry_run=dry_run)

    def established(self, plural: str) -> int:
        """How many watches of ``plural`` the fake has started streaming."""
        with self.store.cond:
            return self._established.get(plural, 0)

    def count(self, plural: str, *, watch: bool) -> int:
        """How many list (or watch) requests reached ``plural``."""
        return len(self.requests_for(plural, watch=watch))

    def requests_for(self, plural: str, *, watch: bool) -> list[RecordedRequest]:
        """The list (or watch) requests for ``plural``, oldest first."""
        return [
            r
            for r in self.log.all()
            if r.method == "GET" and r.path.endswith("/" + plural) and r.is_watch == watch
        ]

    # ----- serving (called from handler threads) -----

    def _count_watch(self, plural: str) -> None:
        with self.store.cond:
            self._established[plural] = self._established.get(plural, 0) + 1

    def _after_write(self, route: Route) -> Callable[[Obj], None] | None:
        if not self.deployment_controller or route.resource.plural != "deployments":
            return None
        key: Key = route.key
        return lambda _obj: sync_deployment(self.store, key)

    def _list(self, route: Route, params: dict[str, str]) -> Obj:
        self._list_gate.wait(10)
        if self.list_override is not None:
            return self.list_override
        return list_objects(self.store, route, params)

    def _hold(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-stream is the point of these tests: no tracebacks."""


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubeApi

    protocol_version = "HTTP/1.1"
    timeout = 10
    _lose = False
    _index = 0

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    # ----- verbs -----

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # ----- one request -----

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = self._body()
        index = self.api.log.record(
            method, url.path, params, body=decode_body(raw or b""),
            content_type=self.headers.get("Content-Type", ""),
            user_agent=self.headers.get("User-Agent", ""),
        )  # fmt: skip
        self._index = index
        try:
            self._answer(method, url.path, params, raw)
        except ApiError as exc:
            self._json(exc.code, exc.body(), exc.headers)
        except OSError:
            raise  # the client hung up: nothing to answer
        except Exception as exc:
            # A bug of the fake, not an API answer: kept for the test to see, then a 500
            # (a silent reset would pass for a network fault).
            self.api.internal_errors.append(f"{method} {url.path}: {exc!r}")
            self._json(500, server_error(500).body())

    def _body(self) -> bytes | None:
        """The request body; None when it is over ``MAX_BODY`` (not read: 413)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, method: str, path: str, params: dict[str, str], raw: bytes | None) -> int:
        if raw is None:
            raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
        if self._legacy_fault():
            return 0 if self.api.mode == "reset" else 503
        fault = self.api.faults.take(method, path, "dryRun" in params)
        if fault is not None:
            self.api._hold(fault.hold)
            if fault.action == "reset":
                self._reset()
                return 0
            if fault.action == "status":
                raise fault.error()
            if fault.action == "touch" and fault.touch is not None:
                self.api.store.touch(fault.touch)
            self._lose = fault.action == "lost"
        route = parse_route(path, self.api.served)
        if route is None:
            raise path_not_found(path)
        if route.resource.plural in self.api.forbidden:
            raise forbidden(route.resource, route.name, method.lower())
        if method == "GET":
            return self._get(route, params)
        if method in ("PATCH", "PUT") and route.name is not None:
            return self._write(method, route, params, raw)
        if method == "POST" and route.name is None and creatable(route.resource.plural):
            return self._create(route, params, raw)
        raise method_not_allowed(method, path)

    def _get(self, route: Route, params: dict[str, str]) -> int:
        if params.get("watch") in ("true", "1", "True"):
            return self._watch(route, params)
        if route.name is not None:
            return self._json(200, read_object(self.api.store, route))
        listed = self.api._list(route, params)
        if wants_table(self.headers.get("Accept")) and route.resource.plural in DEFINITIONS:
            return self._json(200, table(route.resource, listed))  # kubectl get's columns
        return self._json(200, listed)

    def _write(self, method: str, route: Route, params: dict[str, str], raw: bytes) -> int:
        request = WriteRequest(
            method, route, params, raw, self.headers.get("Content-Type", ""),
            self.headers.get("User-Agent", ""),
        )  # fmt: skip
        return self._json(200, write(self.api.store, request, self.api._after_write(route)))

    def _create(self, route: Route, params: dict[str, str], raw: bytes) -> int:
        request = WriteRequest(
            "POST", route, params, raw, self.headers.get("Content-Type", ""),
            self.headers.get("User-Agent", ""),
        )  # fmt: skip
        return self._json(201, create(self.api.store, request))

    def _legacy_fault(self) -> bool:
        if self.api.mode == "unavailable":
            error = server_error(503)
            headers = {"Retry-After": self.api.retry_after} if self.api.retry_after else {}
            self._json(503, error.body(), headers)
            return True
        if self.api.mode == "reset":
            self._reset()
            return True
        return False

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _json(self, code: int, body: Obj, headers: dict[str, str] | None = None) -> int:
        if self._lose:  # a "lost" fault: handled, but the answer never reaches the client
            self._lose = False
            self._reset()
            return 0
        self.api.log.finish(self._index, code)  # before the client can read the answer
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return code

    # ----- watches -----

    def _watch(self, route: Route, params: dict[str, str]) -> int:
        since = params.get("resourceVersion", "")
        if self.api.watch_gone_as_status and since not in ("", "0"):
            if self.api.store.is_expired(route.resource.plural, int(since)):
                return self._json(410, gone_event(int(since))["object"])
        self.api.log.finish(self._index, 200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with self.api.store.cond:
            self.api.open_watches += 1
        self.api._count_watch(route.resource.plural)
        try:
            self._stream(route, params)
        except OSError:
            self.close_connection = True
        finally:
            with self.api.store.cond:
                self.api.open_watches -= 1
        return 200

    def _stream(self, route: Route, params: dict[str, str]) -> None:
        self.wfile.flush()
        for event in watch_events(self.api.store, route, params, self.connection):
            if event is None:
                self._reset()
                return
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):X}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _handler_for(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"api": api})


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step)
    return True
