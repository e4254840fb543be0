"""Build the one ``ApiClient`` the controller talks to Kubernetes through.

Three ways to reach a cluster, in this order: an explicit ``host`` (tests, and local
port-forwards), a kubeconfig file and/or context from ``KubeSettings``, or the in-cluster
service account. Whatever the source, the client gets:

- no hidden retries: urllib3's default of 3 silent reconnects is switched off, because the
  watch loop and the caller's retry layer are the one retry layer (R9);
- a client-side QPS limit: a token bucket shared by *every* request of this client
  (lists, watches, GETs), as client-go's ``QPS``/``Burst`` do, so that a reconnect storm
  cannot hammer a struggling API server;
- a connection pool large enough for one long-lived watch per reflector plus GETs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException

from controller.errors import ConfigError
from controller.settings import KubeSettings


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens per second, up to ``burst`` saved up.

    ``reserve`` takes a token even when none is left (the bucket goes into debt) and says
    how long to wait before using it, so callers queue fairly in arrival order and the
    sleeping happens outside the lock.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, math.ceil(2 * rate))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = monotonic()
        self.taken = 0
        """Tokens handed out so far: one per request sent through this bucket."""

    def reserve(self) -> float:
        """Take one token; return the seconds the caller must wait before using it."""
        with self._lock:
            now = self._monotonic()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._updated = now
            self._tokens -= 1.0
            self.taken += 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Wait for a token; return how long that took (seconds)."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


class RateLimitedApiClient(ApiClient):
    """The official ApiClient with every HTTP request passing the shared token bucket.

    ``call_api`` is the single place the generated API classes send requests through,
    so throttling there covers lists, watches and GETs alike.
    """

    def __init__(self, configuration: Configuration, limiter: TokenBucket) -> None:
        super().__init__(configuration)
        self.limiter = limiter

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        """Take a token, then send the request."""
        self.limiter.acquire()
        return super().call_api(*args, **kwargs)

    def close(self) -> None:
        """Release the connection pool (typed here: the client library's is unannotated)."""
        super().close()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-request (connect, read) timeouts in seconds, from ``KubeSettings``."""

    connect: float
    read: float

    @classmethod
    def from_settings(cls, settings: KubeSettings) -> Timeouts:
        """Both timeouts equal ``request_timeout`` (a GET or list must answer within it)."""
        seconds = max(settings.request_timeout.total_seconds(), 0.001)
        return cls(connect=seconds, read=seconds)

    def request(self) -> tuple[float, float]:
        """The client's ``_request_timeout`` argument for a short request."""
        return (self.connect, self.read)

    def watch(self, server_timeout: int) -> tuple[float, float]:
        """A watch may be silent until its server-side timeout; allow that plus slack."""
        return (self.connect, server_timeout + self.read)


def _load_source(settings: KubeSettings, configuration: Configuration) -> None:
    if settings.kubeconfig is not None or settings.context is not None:
        source = settings.kubeconfig or "default kubeconfig"
        try:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=settings.kubeconfig,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, ValueError) as exc:
            where = f"context {settings.context}" if settings.context else ""
            raise ConfigError(source, where, f"cannot load kubeconfig: {exc}") from exc
        return
    try:
        kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except ConfigException as exc:
        raise ConfigError(
            "in-cluster service account",
            "",
            f"{exc} (set kube.kubeconfig when running outside a cluster)",
        ) from exc


def build_configuration(
    settings: KubeSettings, *, host: str | None = None, pool_size: int = 16
) -> Configuration:
    """A client Configuration for ``host``, else the kubeconfig/context, else in-cluster.

    Raises:
        ConfigError: the kubeconfig or the in-cluster service account cannot be loaded.
    """
    configuration = Configuration()
    if host is not None:
        configuration.host = host.rstrip("/")
    else:
        _load_source(settings, configuration)
    configuration.retries = False
    configuration.connection_pool_maxsize = max(1, pool_size)
    return configuration


def build_api_client(
    settings: KubeSettings,
    *,
    host: str | None = None,
    pool_size: int = 16,
    burst: int | None = None,
) -> RateLimitedApiClient:
    """The rate-limited client for ``settings``; the caller owns it (``close()`` it)."""
    configuration = build_configuration(settings, host=host, pool_size=pool_size)
    return RateLimitedApiClient(configuration, TokenBucket(settings.qps, burst))
