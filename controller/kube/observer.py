"""``KubeObserver``: the cluster as the controller reads it, served from the watch cache.

It implements ``ClusterReader`` (workloads, namespaces, events) and ``HealthReporter``.
Reads fail closed: while the cache is not synced every read raises a ``TemporaryError``
naming the blind scopes, because a partial or stale answer ("no HPA", "no rollout in
progress") is exactly what would make an action unsafe (R6, CH-13).

Before a write, actuators re-read the Deployment with ``get_deployment_live``: a direct
GET, never the cache, whose ``resource_version`` the conditional write must match (R5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubernetes.client import ApiClient, AppsV1Api

from controller.kube.cache import WatchCache
from controller.kube.client import Timeouts
from controller.kube.errors import KubeTemporaryError, NotFoundError, translated
from controller.kube.events import cluster_events
from controller.kube.fields import clean_text, labels_of, mapping, meta
from controller.kube.inventory import workload_inventory, workload_ref
from controller.kube.resources import Kind
from controller.kube.rollout import RolloutFacts, rollout_facts
from controller.kube.writes import RESTART_TOKEN_ANNOTATION
from controller.models.events import ClusterEvent
from controller.models.modes import SourceHealth
from controller.models.workloads import NamespaceInfo, WorkloadInventory, WorkloadRef
from controller.ports import LiveWorkload

__all__ = ["RESTART_TOKEN_ANNOTATION", "KubeObserver", "LiveReads", "live_workload"]

SOURCE = "kubernetes"

_DETAIL_LIMIT = 2000


def live_workload(deployment: Mapping[str, Any], inventory: WorkloadInventory) -> LiveWorkload:
    """Pair an inventory with the Deployment's resourceVersion, paused flag and restart token."""
    template_meta = mapping(
        mapping(mapping(deployment.get("spec")).get("template")).get("metadata")
    )
    token = mapping(template_meta.get("annotations")).get(RESTART_TOKEN_ANNOTATION)
    return LiveWorkload(
        inventory=inventory,
        resource_version=str(meta(deployment).get("resourceVersion") or ""),
        paused=bool(mapping(deployment.get("spec")).get("paused")),
        restart_token=str(token) if token else None,
    )


class KubeObserver:
    """ClusterReader and HealthReporter over a ``WatchCache``; direct GETs via ``api_client``."""

    def __init__(self, cache: WatchCache, api_client: ApiClient) -> None:
        self._cache = cache
        self._apps = AppsV1Api(api_client)
        self._timeouts = Timeouts.from_settings(cache.settings)

    # ----- health -----

    def synced(self) -> bool:
        """Whether every watched kind is listed and watched (False means blind)."""
        return self._cache.synced()

    def health(self, now: datetime) -> SourceHealth:
        """ok only when synced; the detail names each unsynced kind and why."""
        unsynced = self._cache.unsynced()
        last = self._cache.last_success()
        if unsynced:
            detail = "unsynced: " + "; ".join(f"{k} ({v})" for k, v in sorted(unsynced.items()))
        else:
            age = f", last contact {(now - last).total_seconds():.0f}s ago" if last else ""
            detail = f"synced: {len(self._cache.statuses())} watches{age}"
        return SourceHealth(
            source=SOURCE,
            ok=not unsynced,
            last_success=last,
            detail=clean_text(detail, _DETAIL_LIMIT),
        )

    def _require_synced(self) -> None:
        unsynced = self._cache.unsynced()
        if unsynced:
            names = ", ".join(sorted(unsynced))
            raise KubeTemporaryError(f"kubernetes cache not synced (blind): {names}")

    # ----- ClusterReader -----

    def workloads(self, namespace: str | None = None) -> tuple[WorkloadRef, ...]:
        """Every cached Deployment (in ``namespace`` when given), sorted."""
        self._require_synced()
        refs = []
        for deployment in self._cache.list(Kind.DEPLOYMENTS, namespace):
            try:
                refs.append(workload_ref(deployment))
            except ValueError:
                continue  # not a name the models accept; nothing to remediate there
        return tuple(refs)

    def get_workload(self, ref: WorkloadRef) -> LiveWorkload | None:
        """The workload from the cache, or None when it does not exist."""
        self._require_synced()
        deployment = self._cache.get(Kind.DEPLOYMENTS, ref.namespace, ref.name)
        if deployment is None:
            return None
        return live_workload(deployment, self._inventory(deployment))

    def get_namespace(self, name: str) -> NamespaceInfo | None:
        """A watched namespace and its labels, or None."""
        self._require_synced()
        namespace = self._cache.get(Kind.NAMESPACES, None, name)
        if namespace is None:
            return None
        try:
            return NamespaceInfo(name=name, labels=labels_of(namespace))
        except ValueError:
            return None

    def events(self, ref: WorkloadRef, until: datetime) -> tuple[ClusterEvent, ...]:
        """The workload's events up to ``until``, oldest first."""
        self._require_synced()
        deployment = self._cache.get(Kind.DEPLOYMENTS, ref.namespace, ref.name)
        if deployment is None:
            return ()
        ns = ref.namespace
        return cluster_events(
            deployment,
            self._cache.list(Kind.REPLICASETS, ns),
            self._cache.list(Kind.PODS, ns),
            self._cache.list(Kind.EVENTS, ns),
            self._cache.list(Kind.HPAS, ns),
            until=until,
        )

    def rollout(self, ref: WorkloadRef) -> RolloutFacts | None:
        """Rollout facts of the workload, or None when it does not exist."""
        self._require_synced()
        deployment = self._cache.get(Kind.DEPLOYMENTS, ref.namespace, ref.name)
        return rollout_facts(deployment) if deployment is not None else None

    # ----- live read for preconditions (R5) -----

    def get_deployment_live(self, ref: WorkloadRef) -> LiveWorkload | None:
        """GET the Deployment from the API server (not the cache); None when absent.

        Related objects (ReplicaSets, HPA, ScaledObjects) still come from the cache, which
        must be synced. Raises TemporaryError/PermanentError from ``controller.kube.errors``.
        """
        self._require_synced()
        try:
            with translated(f"get deployment {ref}"):
                response: Any = self._apps.read_namespaced_deployment(
                    ref.name,
                    ref.namespace,
                    _preload_content=False,
                    _request_timeout=self._timeouts.request(),
                )
                try:
                    deployment = json.loads(response.data)
                finally:
                    response.release_conn()
        except NotFoundError:
            return None
        return live_workload(deployment, self._inventory(deployment))

    def _inventory(self, deployment: Mapping[str, Any]) -> WorkloadInventory:
        ns = str(meta(deployment).get("namespace") or "")
        return workload_inventory(
            deployment,
            self._cache.list(Kind.REPLICASETS, ns),
            self._cache.list(Kind.PODS, ns),
            self._cache.list(Kind.HPAS, ns),
            self._cache.list(Kind.SCALEDOBJECTS, ns),
            rollouts=self._cache.list(Kind.ROLLOUTS, ns),
        )


class LiveReads:
    """The ``ClusterReader`` an actuator needs: workloads by a live GET, never the cache (R5).

    Namespaces and events come from the observer's cache (which must be synced, or every read
    raises); ``get_workload`` is ``KubeObserver.get_deployment_live``.
    """

    def __init__(self, observer: KubeObserver) -> None:
        self._observer = observer

    def get_workload(self, ref: WorkloadRef) -> LiveWorkload | None:
        """GET the Deployment from the API server (related objects from the cache)."""
        return self._observer.get_deployment_live(ref)

    def get_namespace(self, name: str) -> NamespaceInfo | None:
        """The namespace from the cache."""
        return self._observer.get_namespace(name)

    def events(self, ref: WorkloadRef, until: datetime) -> tuple[ClusterEvent, ...]:
        """The workload's events from the cache."""
        return self._observer.events(ref, until)
