"""KubeObserver over a real WatchCache and the fake API server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.errors import TemporaryError
from controller.kube.observer import RESTART_TOKEN_ANNOTATION, KubeObserver
from controller.models.events import EventKind
from controller.models.workloads import ScalingOwner, WorkloadRef
from controller.ports import ClusterReader, HealthReporter
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import CacheFactory, wait_until

CHECKOUT = WorkloadRef(namespace="shop", name="checkout")
NOW = datetime(2026, 3, 10, 13, tzinfo=UTC)


def seed(api: FakeKubeApi) -> dict[str, Any]:
    api.put("namespaces", manifests.namespace(**{"aiops.dev/enabled": "true"}))
    deployment = api.put("deployments", manifests.deployment())
    api.put("deployments", manifests.worker())
    for rs in manifests.replicasets():
        api.put("replicasets", rs)
    api.put("pods", manifests.crashing_pod())
    api.put("horizontalpodautoscalers", manifests.hpa())
    api.put("horizontalpodautoscalers", manifests.hpa(target="worker", name="keda-hpa-worker"))
    api.put("scaledobjects", manifests.scaled_object())
    for event in manifests.events():
        api.put("events", event)
    return deployment


@pytest.fixture
def observer(fake_api: FakeKubeApi, make_cache: CacheFactory) -> KubeObserver:
    fake_api.served = set(CORE_PLURALS) | {"scaledobjects"}
    seed(fake_api)
    cache, client = make_cache()
    cache.start()
    assert cache.wait_synced(5), cache.unsynced()
    return KubeObserver(cache, client)


def test_it_implements_the_ports(observer: KubeObserver):
    reader: ClusterReader = observer
    reporter: HealthReporter = observer
    assert reader.get_workload(CHECKOUT) is not None
    assert reporter.health(NOW).ok


def test_get_workload_from_the_cache(observer: KubeObserver, fake_api: FakeKubeApi):
    live = observer.get_workload(CHECKOUT)

    assert live is not None
    stored = fake_api.requests_for("deployments", watch=False)
    assert len(stored) == 1  # no GET: served from the cache
    assert live.resource_version == _rv(fake_api, "checkout")
    assert live.paused is False and live.restart_token is None
    inventory = live.inventory
    assert [r.revision for r in inventory.revisions] == [1, 2, 3]
    assert inventory.current_revision == 3
    assert inventory.scaling_owner is ScalingOwner.HPA
    assert inventory.resources.cpu_request_cores == pytest.approx(0.4)  # the running pod's
    assert observer.get_workload(WorkloadRef(namespace="shop", name="ghost")) is None


def _rv(api: FakeKubeApi, name: str) -> str:
    stored = api.get("deployments", "shop", name)
    assert stored is not None
    return str(stored["metadata"]["resourceVersion"])


def test_keda_scaled_worker(observer: KubeObserver):
    live = observer.get_workload(WorkloadRef(namespace="shop", name="worker"))
    assert live is not None
    assert live.inventory.scaling_owner is ScalingOwner.KEDA
    assert live.inventory.hpa is not None and live.inventory.hpa.name == "keda-hpa-worker"


def test_live_get_bypasses_a_stale_cache(observer: KubeObserver, fake_api: FakeKubeApi):
    paused = manifests.deployment(spec__paused=True, spec__replicas=6)
    paused["spec"]["template"]["metadata"]["annotations"] = {RESTART_TOKEN_ANNOTATION: "k-1"}
    changed = fake_api.put("deployments", paused, notify=False)  # the watch never tells

    cached = observer.get_workload(CHECKOUT)
    live = observer.get_deployment_live(CHECKOUT)

    assert cached is not None and live is not None
    assert cached.resource_version != changed["metadata"]["resourceVersion"]
    assert live.resource_version == changed["metadata"]["resourceVersion"]
    assert (live.paused, live.restart_token) == (True, "k-1")
    assert live.inventory.replicas.desired == 6
    gets = [r for r in fake_api.requests if r.path.endswith("/deployments/checkout")]
    assert [r.path for r in gets] == ["/apis/apps/v1/namespaces/shop/deployments/checkout"]


def test_live_get_of_a_missing_deployment(observer: KubeObserver):
    assert observer.get_deployment_live(WorkloadRef(namespace="shop", name="ghost")) is None


def test_live_get_failure_is_temporary(observer: KubeObserver, fake_api: FakeKubeApi):
    fake_api.mode = "unavailable"
    with pytest.raises(TemporaryError, match="get deployment shop/checkout: HTTP 503"):
        observer.get_deployment_live(CHECKOUT)


def test_namespaces_and_discovery(observer: KubeObserver):
    namespace = observer.get_namespace("shop")
    assert namespace is not None and namespace.labels == {"aiops.dev/enabled": "true"}
    assert observer.get_namespace("kube-system") is None
    assert observer.workloads() == (
        CHECKOUT,
        WorkloadRef(namespace="shop", name="worker"),
    )
    assert observer.workloads("other") == ()


def test_events_and_rollout(observer: KubeObserver):
    events = observer.events(CHECKOUT, until=NOW)
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.DEPLOY) == 2
    assert EventKind.OOM_KILLED in kinds and EventKind.ROLLOUT_COMPLETE in kinds
    assert observer.events(CHECKOUT, until=datetime(2026, 3, 6, tzinfo=UTC))[0].revision == 2
    assert observer.events(WorkloadRef(namespace="shop", name="ghost"), until=NOW) == ()

    facts = observer.rollout(CHECKOUT)
    assert facts is not None and facts.in_progress is False and facts.revision == 3
    assert observer.rollout(WorkloadRef(namespace="shop", name="ghost")) is None


def test_health_when_synced(observer: KubeObserver):
    health = observer.health(NOW)
    assert health.source == "kubernetes"
    assert health.ok and observer.synced()
    assert health.last_success is not None
    assert health.detail.startswith("synced: 8 watches")


def test_blind_cache_refuses_every_read(observer: KubeObserver, fake_api: FakeKubeApi):
    fake_api.hold_lists()
    fake_api.expire()
    assert wait_until(lambda: "deployments (re-list pending" in observer.health(NOW).detail)

    health = observer.health(NOW)
    assert not health.ok
    assert "deployments (re-list pending: 410 Gone" in health.detail
    reads = [
        lambda: observer.get_workload(CHECKOUT),
        lambda: observer.get_namespace("shop"),
        lambda: observer.events(CHECKOUT, NOW),
        lambda: observer.rollout(CHECKOUT),
        lambda: observer.workloads(),
        lambda: observer.get_deployment_live(CHECKOUT),
    ]
    for read in reads:
        with pytest.raises(TemporaryError, match="not synced"):
            read()

    fake_api.release_lists()
    assert wait_until(observer.synced)
    assert observer.health(NOW).ok
    assert observer.get_workload(CHECKOUT) is not None
