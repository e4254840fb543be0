"""Outbound request counting: ``aiops_outbound_requests_total{dependency,status}``.

Counted where every request of a dependency already passes, through each client's own
public extension point, so no adapter changes and no SDK is patched:

- Prometheus: a ``response`` hook on the observer's own ``requests`` session (the session
  is built by ``observers.prometheus_http.build_session`` and handed to
  ``PrometheusMetrics``); a request that never got an answer is the observer's error data
  and shows in ``aiops_observer_staleness_seconds``;
- Kubernetes: ``CountingApiClient``, the rate-limited client with ``call_api`` (the one
  method every generated API call goes through) counted: the answer's status, or
  ``error`` when the request raised before one came back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.kube.client import RateLimitedApiClient, TokenBucket, build_configuration
from controller.observers.prometheus import PrometheusMetrics
from controller.observers.prometheus_http import build_session
from controller.settings import KubeSettings, PrometheusSettings

Count = Callable[[str, str], None]
"""Called with (dependency, status)."""


def status_label(status: object) -> str:
    """An HTTP status as a label (``200``), ``error`` without one."""
    return str(status) if isinstance(status, int) and 100 <= status <= 599 else "error"


class CountingApiClient(RateLimitedApiClient):
    """``RateLimitedApiClient`` whose every request is counted as ``kubernetes``."""

    def __init__(self, configuration: Any, limiter: TokenBucket, count: Count) -> None:
        super().__init__(configuration, limiter)
        self._count = count

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        """Send through the limiter, then count the answer's status (or the failure)."""
        try:
            response = super().call_api(*args, **kwargs)
        except Exception as exc:
            self._count("kubernetes", status_label(getattr(exc, "status", None)))
            raise
        self._count("kubernetes", status_label(getattr(response, "status", None)))
        return response


def counting_kube_client(
    settings: KubeSettings, count: Count, *, host: str | None = None, pool_size: int = 32
) -> CountingApiClient:
    """The operator's one Kubernetes client: kubeconfig/context/in-cluster, QPS-limited."""
    configuration = build_configuration(settings, host=host, pool_size=pool_size)
    return CountingApiClient(configuration, TokenBucket(settings.qps), count)


def counting_prometheus(
    settings: PrometheusSettings, count: Count, *, stale_after: Any
) -> PrometheusMetrics:
    """The live metrics observer with its session's answers counted as ``prometheus``."""
    session = build_session(settings)

    def hook(response: Any, *_args: Any, **_kwargs: Any) -> Any:
        count("prometheus", status_label(getattr(response, "status_code", None)))
        return response

    session.hooks["response"].append(hook)
    return PrometheusMetrics(session=session, settings=settings, stale_after=stale_after)
