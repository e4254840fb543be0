"""configure_tracing for real: the SDK exports our spans as OTLP/HTTP protobuf to a loopback
receiver, which decodes them with the opentelemetry-proto classes; unconfigured means nothing."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider

from controller import __version__
from controller.telemetry import (
    DEFAULT_SERVICE_NAME,
    configure_tracing,
    shutdown_tracing,
    traces_endpoint,
)
from tests.conftest import REPO

MAX_BODY = 1024 * 1024


@dataclass
class Receiver:
    """A loopback OTLP/HTTP receiver that keeps every POST it was sent."""

    base_url: str
    posts: list[tuple[str, str, bytes]] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)

    def requests(self) -> list[ExportTraceServiceRequest]:
        return [ExportTraceServiceRequest.FromString(body) for _, _, body in self.posts]

    def spans(self) -> dict[str, dict[str, str]]:
        """Span name -> the string attributes of its resource, over every request."""
        found: dict[str, dict[str, str]] = {}
        for request in self.requests():
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found[span.name] = resource
        return found


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if length > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            receiver.posts.append((self.path, self.headers.get("Content-Type", ""), body))
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            receiver.received.set()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test asserts on what was received, not on access logs."""

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(receiver)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_spans_reach_an_otlp_http_receiver(receiver: Receiver) -> None:
    provider = configure_tracing(receiver.base_url, environ={}, install=False)
    assert isinstance(provider, TracerProvider)
    try:
        with provider.get_tracer("aiops.controller").start_as_current_span("observe"):
            pass
        assert provider.force_flush(timeout_millis=5000)
    finally:
        assert shutdown_tracing(provider)
    assert receiver.received.wait(5)
    path, content_type, _ = receiver.posts[0]
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    resource = receiver.spans()["observe"]
    assert resource["service.name"] == DEFAULT_SERVICE_NAME == "aiops-controller"
    assert resource["service.version"] == __version__


def test_the_environment_configures_the_global_provider(receiver: Receiver) -> None:
    """As the CLI will run it: endpoint from OTEL_* variables, spans from module-level tracers,
    flushed by shutdown_tracing before the process exits (a fresh process: the global provider
    can be set once)."""
    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from controller.telemetry import configure_tracing, shutdown_tracing

        tracer = trace.get_tracer("aiops.controller")  # before configuring, like loop.py
        provider = configure_tracing()
        assert trace.get_tracer_provider() is provider
        with tracer.start_as_current_span("replay"):
            pass
        assert shutdown_tracing(provider)
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_url + "/",
        "OTEL_SERVICE_NAME": "aiops-under-test",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert receiver.received.wait(5)
    assert receiver.posts[0][0] == "/v1/traces"
    assert receiver.spans()["replay"]["service.name"] == "aiops-under-test"


def test_unconfigured_sets_up_nothing() -> None:
    before_threads = set(threading.enumerate())
    before_provider = trace.get_tracer_provider()
    assert configure_tracing(environ={}) is None
    assert configure_tracing("", environ={}) is None
    assert set(threading.enumerate()) == before_threads  # no exporter worker was started
    assert trace.get_tracer_provider() is before_provider
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert shutdown_tracing(None)


@pytest.mark.parametrize(
    ("endpoint", "environ", "expected"),
    [
        (None, {}, None),
        ("http://c:4318", {}, "http://c:4318/v1/traces"),
        (
            "http://c:4318/",
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x"},
            "http://c:4318/v1/traces",
        ),
        (
            None,
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/custom"},
            "http://t:4318/custom",
        ),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318"}, "http://b:4318/v1/traces"),
        (
            None,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t",
            },
            "http://t",
        ),
        ("http://c:4318", {"OTEL_SDK_DISABLED": "true"}, None),
        (None, {"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b"}, None),
        (None, {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b"}, None),
        (
            None,
            {"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b"},
            "http://b/v1/traces",
        ),
    ],
)
def test_endpoint_resolution(
    endpoint: str | None, environ: dict[str, str], expected: str | None
) -> None:
    assert traces_endpoint(endpoint, environ) == expected


def test_aiops_replay_exports_the_loop_stages(receiver: Receiver, tmp_path: Path) -> None:
    """The CLI's composition root configures tracing: a replay's loop stages reach OTLP."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_url,
    }
    incident = REPO / "examples" / "incidents" / "bad-deploy.json"
    command = [sys.executable, "-m", "controller", "replay", str(incident)]
    command += ["-o", str(tmp_path / "report.txt"), "--ledger", str(tmp_path / "l.jsonl")]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert receiver.received.wait(5)
    names = set(receiver.spans())
    assert {"replay", "observe", "detect", "localize", "plan", "planner.act"} <= names
