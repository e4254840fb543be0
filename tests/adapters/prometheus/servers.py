"""The real Prometheus server as a test subprocess, and a recording loopback HTTP proxy.

Everything binds to 127.0.0.1. Every wait is bounded; no test depends on a sleep.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

CONFIG = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n"
"""No scrape targets: the server holds only the backfilled recording."""


def openmetrics_blocks(promtool: str, text: str, root: Path, name: str) -> Path:
    """TSDB blocks from OpenMetrics ``text`` (promtool's backfill), in ``root/<name>``."""
    source = root / f"{name}.om"
    source.write_text(text, encoding="utf-8")
    out = root / name
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def free_port() -> int:
    """A currently unused loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrometheusServer:
    """One ``prometheus`` process over ``data_dir``, listening on 127.0.0.1:``port``."""

    binary: str
    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 20.0) -> None:
        config = self.data_dir.parent / "prometheus.yml"
        config.write_text(CONFIG, encoding="utf-8")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.data_dir}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=30d",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(ready_within)

    def _wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        log = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"prometheus on {self.url} not ready within {within}s:\n{log}")

    def kill(self) -> None:
        """SIGKILL: the way a crashed or partitioned Prometheus looks to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self, grace: float = 10.0) -> None:
        """Terminate, then kill if it does not exit within ``grace`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=grace)


@dataclass(frozen=True)
class Seen:
    """One request the proxy received."""

    method: str
    path: str
    params: dict[str, list[str]]

    def param(self, name: str) -> str:
        return self.params[name][0]


@dataclass
class Fault:
    """A canned answer the proxy gives instead of forwarding."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class RecordingProxy:
    """A loopback HTTP proxy in front of Prometheus that records every request.

    ``delay`` holds each answer back (a slow Prometheus); queued ``faults`` are answered
    instead of forwarding, one per request, until the queue is empty.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.seen: list[Seen] = []
        self.faults: list[Fault] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def queries(self) -> list[Seen]:
        """The range queries received so far."""
        with self._lock:
            return [s for s in self.seen if s.path == "/api/v1/query_range"]

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, method: str, target: str, body: bytes) -> Fault | None:
        parts = urlsplit(target)
        params = parse_qs(parts.query)
        for name, values in parse_qs(body.decode("utf-8", errors="replace")).items():
            params.setdefault(name, []).extend(values)
        with self._lock:
            self.seen.append(Seen(method, parts.path, params))
            return self.faults.pop(0) if self.faults else None

    def _forward(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Fault:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=10)
        try:
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = {"Content-Type": response.getheader("Content-Type", "application/json")}
            return Fault(response.status, kept, payload)
        except OSError as exc:
            return Fault(502, {"Content-Type": "text/plain"}, f"proxy: {exc}".encode())
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per answer: no Nagle / delayed-ACK stalls

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the proxy's record is ``seen``."""

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._record(self.command, self.path, body)
                if proxy.delay and proxy._closing.wait(proxy.delay):
                    return
                if fault is None:
                    headers = {"Content-Type": self.headers.get("Content-Type", "text/plain")}
                    fault = proxy._forward(self.command, self.path, body, headers)
                self._answer(fault)

            def _answer(self, answer: Fault) -> None:
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up (timed out) first

            do_GET = _serve
            do_POST = _serve

        return Handler


def recorded_range(proxy: RecordingProxy) -> Iterator[tuple[float, float]]:
    """(start, end) of every range query the proxy saw."""
    for seen in proxy.queries():
        yield float(seen.param("start")), float(seen.param("end"))


REQUIRE = "AIOPS_REQUIRE_PROMETHEUS"
"""Set (scripts/test.sh exports it for CI) to make a missing binary fail the tier, not skip it."""


def require_binary(name: str) -> str:
    """The path of ``name``; without it skip locally, or fail when ``REQUIRE`` is set."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed (scripts/test.sh installs it)"
    if os.environ.get(REQUIRE, "") not in {"", "0"}:
        pytest.fail(f"{message}; {REQUIRE} is set, so the Prometheus tier must run", pytrace=False)
    pytest.skip(message)
