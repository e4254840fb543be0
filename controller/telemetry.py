"""OpenTelemetry tracing for the controller's own spans (observe, detect, plan, the graph nodes).

The code creates spans through the OpenTelemetry API (``trace.get_tracer(...)``), which records
nothing until a composition root installs an SDK ``TracerProvider``. ``configure_tracing`` is that
one place: the CLI calls it at start-up and ``shutdown_tracing`` before it exits.

Where spans go, first match wins:

1. ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``: nowhere (standard kill switches);
2. the ``endpoint`` argument (a setting or flag): the base URL of an OTLP/HTTP receiver, as a
   Collector's ``otlphttp`` exporter takes it (``http://collector:4318``); ``/v1/traces`` is
   appended;
3. ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: the full URL, used as is;
4. ``OTEL_EXPORTER_OTLP_ENDPOINT``: a base URL, ``/v1/traces`` appended.

With none of these nothing is set up: no provider, no exporter, no worker thread, and spans stay
the API's no-op spans. Otherwise spans are batched (``BatchSpanProcessor``) and sent as protobuf
over HTTP (``OTLPSpanExporter``); the exporter's other standard variables (headers, timeout,
compression, certificates) apply as the SDK documents them. The resource names the service
(``service.name``: ``OTEL_SERVICE_NAME`` or ``service_name``) and its version.

The SDK and the exporter (about 0.1 s of imports) are imported only when tracing is on, so an
unconfigured CLI does not pay for them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from controller import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

DEFAULT_SERVICE_NAME = "aiops-controller"
TRACES_PATH = "/v1/traces"


def traces_endpoint(
    endpoint: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The OTLP/HTTP traces URL spans are sent to, or None when tracing is off (see above)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    if endpoint and endpoint.strip():
        return _traces_url(endpoint)
    full = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if full:
        return full
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return _traces_url(base) if base else None


def _traces_url(base: str) -> str:
    return base.strip().rstrip("/") + TRACES_PATH


def tracing_resource(
    service_name: str = DEFAULT_SERVICE_NAME, environ: Mapping[str, str] | None = None
) -> Resource:
    """The SDK's default resource plus ``service.name`` and ``service.version``."""
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource

    env = os.environ if environ is None else environ
    name = env.get("OTEL_SERVICE_NAME", "").strip() or service_name
    return Resource.create({SERVICE_NAME: name, SERVICE_VERSION: __version__})


def configure_tracing(
    endpoint: str | None = None,
    *,
    service_name: str = DEFAULT_SERVICE_NAME,
    environ: Mapping[str, str] | None = None,
    install: bool = True,
) -> TracerProvider | None:
    """Set up the SDK TracerProvider with an OTLP/HTTP exporter, or nothing when unconfigured.

    Args:
        endpoint: base URL of an OTLP/HTTP receiver (``http://collector:4318``); None: take it
            from the standard ``OTEL_EXPORTER_OTLP_*`` variables.
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` is set.
        environ: the environment to read (default ``os.environ``).
        install: make it the global provider, which every ``trace.get_tracer`` of the code
            then uses. OpenTelemetry allows that once per process.

    Returns:
        The provider (pass it to ``shutdown_tracing``), or None when no endpoint is configured.
    """
    url = traces_endpoint(endpoint, environ)
    if url is None:
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=tracing_resource(service_name, environ))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    if install:
        trace.set_tracer_provider(provider)
    return provider


def shutdown_tracing(provider: TracerProvider | None, *, timeout: float = 5.0) -> bool:
    """Flush the spans still queued, then stop the exporter; True when the flush finished.

    None (tracing was not configured) is a no-op. Call it once, before the process exits.
    """
    if provider is None:
        return True
    flushed = provider.force_flush(timeout_millis=int(timeout * 1000))
    provider.shutdown()
    return flushed
