"""The Kubernetes adapter: the only package that imports the ``kubernetes`` client.

- ``client``: build the rate-limited ``ApiClient`` from ``KubeSettings``;
- ``errors``: API and transport failures as ``TemporaryError`` / ``PermanentError``;
- ``cache``/``reflector``: the watch-based cache and its synced/blind state;
- ``inventory``/``rollout``/``events``: pure functions from cached dicts to models;
- ``observer``: ``KubeObserver``, the ``ClusterReader`` + ``HealthReporter`` over the cache.
"""

from __future__ import annotations

from controller.kube.cache import WatchCache
from controller.kube.client import RateLimitedApiClient, TokenBucket, build_api_client
from controller.kube.errors import (
    ConflictError,
    GoneError,
    KubePermanentError,
    KubeTemporaryError,
    NotFoundError,
)
from controller.kube.events import cluster_events
from controller.kube.inventory import workload_inventory
from controller.kube.observer import RESTART_TOKEN_ANNOTATION, KubeObserver
from controller.kube.resources import Kind
from controller.kube.rollout import RolloutFacts, rollout_facts

__all__ = [
    "RESTART_TOKEN_ANNOTATION",
    "ConflictError",
    "GoneError",
    "Kind",
    "KubeObserver",
    "KubePermanentError",
    "KubeTemporaryError",
    "NotFoundError",
    "RateLimitedApiClient",
    "RolloutFacts",
    "TokenBucket",
    "WatchCache",
    "build_api_client",
    "cluster_events",
    "rollout_facts",
    "workload_inventory",
]
