"""The Kubernetes adapter: the only package that imports the ``kubernetes`` client.

- ``client``: build the rate-limited ``ApiClient`` from ``KubeSettings``;
- ``errors``: API and transport failures as ``TemporaryError`` / ``PermanentError``;
- ``cache``/``reflector``: the watch-based cache and its synced/blind state;
- ``inventory``/``rollout``/``events``: pure functions from cached dicts to models;
- ``observer``: ``KubeObserver``, the ``ClusterReader`` + ``HealthReporter`` over the cache,
  and ``LiveReads``, the actuator's reader (live GETs);
- ``writer``/``shadow``: ``KubeWriter`` and ``ShadowWriter``, the ``ClusterWriter`` s (with
  ``calls``: the writer's requests and retry layer; ``ownership``: refusals; ``scale``,
  ``rollback``, ``restart``: what each action patches; ``writes``: bodies and records).
- ``killswitch``: ``ClusterKillSwitch``, the ``KillSwitch`` port over a ConfigMap (fail
  closed), and ``set_switch`` for ``aiops freeze``;
- ``remediations``/``remediation_body``: the ``remediations.aiops.dev`` store, its
  ``ApprovalChannel`` and ledger mirror; ``objects``: requests on those objects.
"""

from __future__ import annotations

from controller.kube.cache import WatchCache
from controller.kube.client import RateLimitedApiClient, TokenBucket, build_api_client
from controller.kube.errors import (
    ConflictError,
    GoneError,
    KubePermanentError,
    KubeRetryAfterError,
    KubeTemporaryError,
    NotFoundError,
    PreconditionFailed,
    WriteRefused,
)
from controller.kube.events import cluster_events
from controller.kube.inventory import workload_inventory
from controller.kube.observer import RESTART_TOKEN_ANNOTATION, KubeObserver, LiveReads
from controller.kube.resources import Kind
from controller.kube.rollout import RolloutFacts, rollout_facts
from controller.kube.shadow import ShadowWriter
from controller.kube.writer import KubeWriter
from controller.kube.writes import FIELD_MANAGER, WriteRecord

__all__ = [
    "FIELD_MANAGER",
    "RESTART_TOKEN_ANNOTATION",
    "ConflictError",
    "GoneError",
    "Kind",
    "KubeObserver",
    "KubePermanentError",
    "KubeRetryAfterError",
    "KubeTemporaryError",
    "KubeWriter",
    "LiveReads",
    "NotFoundError",
    "PreconditionFailed",
    "RateLimitedApiClient",
    "RolloutFacts",
    "ShadowWriter",
    "TokenBucket",
    "WatchCache",
    "WriteRecord",
    "WriteRefused",
    "build_api_client",
    "cluster_events",
    "rollout_facts",
    "workload_inventory",
]
