"""The simulated cluster's metrics, in the names and labels of the exporters a cluster runs.

kube-state-metrics (``kube_*``), cAdvisor through the kubelet (``container_*``) and the
application's own request metrics (``http_requests_total``, ``http_request_duration_seconds``:
the ``kube-state-metrics`` preset of ``controller.observers.queries``). The names are copied
here, not imported: the simulator sits beside the observers in the layers contract and may
not import them; ``tests/sim`` asserts these constants match what the queries select.

Rendering is prometheus_client's (a custom ``Collector`` in a private ``CollectorRegistry``,
``generate_latest``): the text format's escaping and float spelling are the library's, not
ours. During the warm-up every sample carries the simulated time as its timestamp, so the
fast-forwarded history lands in Prometheus at the times it simulates. Live samples carry
none: Prometheus stamps them with the scrape time and, only for such samples, marks a
series stale as soon as a scrape lacks it, so the series of a replaced pod end at once
instead of lingering for the 5-minute lookback (a restart must visibly clear a leak).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from controller.sim.cluster.cluster import ClusterView, SimulatedCluster, WorkloadView
from controller.sim.cluster.state import BUCKETS

HTTP_REQUESTS = "http_requests_total"
HTTP_DURATION = "http_request_duration_seconds"
HTTP_BUCKETS = HTTP_DURATION + "_bucket"
CPU_USAGE = "container_cpu_usage_seconds_total"
MEMORY_WORKING_SET = "container_memory_working_set_bytes"
REQUESTS = "kube_pod_container_resource_requests"
LIMITS = "kube_pod_container_resource_limits"
RESTARTS = "kube_pod_container_status_restarts_total"
POD_OWNER = "kube_pod_owner"
REPLICASET_OWNER = "kube_replicaset_owner"
AVAILABLE = "kube_deployment_status_replicas_available"
SPEC_REPLICAS = "kube_deployment_spec_replicas"
STATUS_REPLICAS = "kube_deployment_status_replicas"

QUERIED = frozenset(
    {
        HTTP_REQUESTS,
        HTTP_BUCKETS,
        CPU_USAGE,
        MEMORY_WORKING_SET,
        REQUESTS,
        LIMITS,
        RESTARTS,
        POD_OWNER,
        REPLICASET_OWNER,
        AVAILABLE,
    }
)
"""The sample names the default (``kube-state-metrics``) query preset selects."""
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ClusterCollector(Collector):
    """Collects a ``ClusterView`` per scrape; ``view`` decides how time moves (see cluster)."""

    def __init__(self, view: Callable[[], ClusterView]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        """Every family of the current view."""
        return iter(families(self._view()))


def families(view: ClusterView) -> list[Metric]:
    """The metric families of ``view``, stamped with its time when ``view.stamped``."""
    at = view.at.timestamp() if view.stamped else None
    out = _Families(at)
    for workload in view.workloads:
        _http(out, workload)
        _pods(out, workload)
        _deployment(out, workload)
    return out.all()


class _Families:
    """One family per name, created on first use (a name repeated is a broken exposition)."""

    def __init__(self, at: float | None) -> None:
        self.at = at
        self.by_name: dict[str, Metric] = {}

    def counter(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        family = self.by_name.setdefault(name, CounterMetricFamily(name, doc, labels=list(labels)))
        assert isinstance(family, CounterMetricFamily)
        family.add_metric(list(labels.values()), value, timestamp=self.at)

    def gauge(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        family = self.by_name.setdefault(name, GaugeMetricFamily(name, doc, labels=list(labels)))
        assert isinstance(family, GaugeMetricFamily)
        family.add_metric(list(labels.values()), value, timestamp=self.at)

    def histogram(self, name: str, doc: str, labels: dict[str, str], view: WorkloadView) -> None:
        family = self.by_name.setdefault(
            name, HistogramMetricFamily(name, doc, labels=list(labels))
        )
        assert isinstance(family, HistogramMetricFamily)
        buckets = [(_le(b), c) for b, c in zip(BUCKETS, view.buckets, strict=True)]
        buckets[-1] = ("+Inf", view.latency_count)  # the same float as _count, exactly
        family.add_metric(list(labels.values()), buckets, view.latency_sum, timestamp=self.at)

    def all(self) -> list[Metric]:
        return list(self.by_name.values())


def _le(bound: float) -> str:
    """A bucket bound as a label value, spelled as prometheus_client's own histograms do."""
    return "+Inf" if bound == math.inf else repr(bound)


def _http(out: _Families, view: WorkloadView) -> None:
    spec = view.spec
    ident = {"namespace": spec.namespace, "workload": spec.name}
    for code, count in sorted(view.requests.items()):
        out.counter(HTTP_REQUESTS, "HTTP requests served, by status code.",
                    {**ident, "code": code}, count)  # fmt: skip
    out.histogram(HTTP_DURATION, "HTTP request latency.", ident, view)


def _pods(out: _Families, view: WorkloadView) -> None:
    spec = view.spec
    ns = spec.namespace
    for pod in view.pods:
        container = {"namespace": ns, "pod": pod.name, "container": spec.container}
        out.counter(CPU_USAGE, "Cumulative CPU time consumed (cAdvisor).", container,
                    pod.cpu_seconds)  # fmt: skip
        out.gauge(MEMORY_WORKING_SET, "Working set (cAdvisor).", container, pod.memory)
        resource = {**container, "node": "sim-node"}
        out.gauge(REQUESTS, "Requested resources.", {**resource, "resource": "cpu",
                  "unit": "core"}, spec.cpu_request_cores)  # fmt: skip
        out.gauge(REQUESTS, "Requested resources.", {**resource, "resource": "memory",
                  "unit": "byte"}, spec.memory_request_bytes)  # fmt: skip
        out.gauge(LIMITS, "Resource limits.", {**resource, "resource": "cpu", "unit": "core"},
                  spec.cpu_limit_cores)  # fmt: skip
        out.gauge(LIMITS, "Resource limits.", {**resource, "resource": "memory",
                  "unit": "byte"}, spec.memory_limit_bytes)  # fmt: skip
        out.counter(RESTARTS, "Container restarts.", container, pod.restarts)
        owner = {"namespace": ns, "pod": pod.name, "owner_kind": "ReplicaSet",
                 "owner_name": pod.replicaset, "owner_is_controller": "true"}  # fmt: skip
        out.gauge(POD_OWNER, "Pod owner.", owner, 1)
    for replicaset in sorted(view.replicasets):
        owner = {"namespace": ns, "replicaset": replicaset, "owner_kind": "Deployment",
                 "owner_name": spec.name, "owner_is_controller": "true"}  # fmt: skip
        out.gauge(REPLICASET_OWNER, "ReplicaSet owner.", owner, 1)


def _deployment(out: _Families, view: WorkloadView) -> None:
    ident = {"namespace": view.spec.namespace, "deployment": view.spec.name}
    out.gauge(AVAILABLE, "Available replicas.", ident, view.available)
    out.gauge(SPEC_REPLICAS, "Desired replicas.", ident, view.desired_replicas)
    out.gauge(STATUS_REPLICAS, "Replicas (pods of any revision).", ident, len(view.pods))


def registry_for(view: Callable[[], ClusterView]) -> CollectorRegistry:
    """A private registry holding only the cluster's collector (no process-global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(view))
    return registry


def scrape_view(
    cluster: SimulatedCluster, clock: Callable[[], datetime], *, stamp_live: bool = False
) -> Callable[[], ClusterView]:
    """A view that moves the cluster as a scrape should (``advance_for_scrape``) first.

    Warm-up scrapes are stamped with the simulated time; live ones only with ``stamp_live``
    (for a clock that is not the wall clock Prometheus stamps scrapes with)."""

    def view() -> ClusterView:
        with cluster.lock:
            wall = clock()
            warming = cluster.warming_up(wall)
            cluster.advance_for_scrape(wall)
            return cluster.view(stamped=warming or stamp_live)

    return view


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (``CONTENT_TYPE``)."""
    return generate_latest(registry)
