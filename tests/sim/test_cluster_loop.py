"""The closed loop: writes made through the official Kubernetes client change the simulation.

Each test drives the simulated clock by hand (``at``) and acts as the controller would,
through ``kubernetes.client`` over HTTP against the FakeKubeApi the simulator reads.
"""
# The official client types every model field Optional; these tests read objects they have
# just seen the API return, so the None branches cannot occur here.
# mypy: disable-error-code="union-attr, index, misc, type-var"

from __future__ import annotations

from typing import Any

import pytest

from controller.sim.cluster import (
    BadDeploy,
    HpaSpec,
    MemoryLeak,
    SimulatedCluster,
    TrafficSurge,
    model,
)
from controller.sim.cluster.scenarios import FAULTS, builtin
from controller.sim.kube_api import FakeKubeApi
from tests.sim.conftest import Kube
from tests.sim.helpers import NS, T0, at, scenario, workload

MIB = 1024 * 1024


def _p99(cluster: SimulatedCluster, key: str) -> float:
    spec = cluster.scenario.workload(key)
    return model.latency_quantile(spec, cluster.rates(key).utilisation, 0.99)


def test_scaling_out_through_the_scale_subresource_lowers_utilisation_and_latency(
    api: FakeKubeApi, kube: Kube
) -> None:
    spec = workload("checkout", replicas=2, load_rps=70, capacity_rps=40)
    cluster = SimulatedCluster(api, scenario(spec), start=T0)
    at(cluster, 5)
    before = cluster.rates(spec.key)
    assert before.ready == 2 and before.utilisation == pytest.approx(70 / 80)
    slow = _p99(cluster, spec.key)

    kube.apps.patch_namespaced_deployment_scale("checkout", NS, {"spec": {"replicas": 5}})
    at(cluster, 6)

    after = cluster.rates(spec.key)
    assert after.ready == 5 and after.utilisation == pytest.approx(70 / 200)
    assert _p99(cluster, spec.key) < slow / 2
    assert cluster.view().workloads[0].available == 5
    pods = kube.core.list_namespaced_pod(NS).items
    (replicaset,) = kube.apps.list_namespaced_replica_set(NS).items
    assert sorted(p.metadata.name for p in pods) == sorted(
        p.name for p in cluster.state(spec.key).pods
    )
    assert {p.metadata.owner_references[0].uid for p in pods} == {replicaset.metadata.uid}
    assert {p.status.phase for p in pods} == {"Running"}


def test_overload_sheds_with_503_until_scaled(api: FakeKubeApi, kube: Kube) -> None:
    spec = workload("checkout", replicas=1, load_rps=100, capacity_rps=40, error_ratio=0.0)
    cluster = SimulatedCluster(api, scenario(spec), start=T0)
    at(cluster, 10)
    assert cluster.rates(spec.key).error_ratio == pytest.approx(0.6)
    assert cluster.state(spec.key).requests["503"] == pytest.approx(60 * 10)

    kube.apps.patch_namespaced_deployment_scale("checkout", NS, {"spec": {"replicas": 3}})
    at(cluster, 11)
    assert cluster.rates(spec.key).error_ratio == 0.0


def _rollout_undo(kube: Kube, name: str) -> None:
    """What ``kubectl rollout undo`` does: the previous revision's template, written back."""
    sets = kube.apps.list_namespaced_replica_set(NS).items
    owned = [rs for rs in sets if rs.metadata.owner_references[0].name == name]
    by_revision = sorted(
        owned, key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"])
    )
    previous = kube.apps.api_client.sanitize_for_serialization(by_revision[-2].spec.template)
    previous["metadata"]["labels"].pop("pod-template-hash")
    patch: list[dict[str, Any]] = [{"op": "replace", "path": "/spec/template", "value": previous}]
    kube.apps.patch_namespaced_deployment(name, NS, patch)


def test_a_bad_deploy_raises_errors_and_a_rollback_lowers_them(
    api: FakeKubeApi, kube: Kube
) -> None:
    spec = workload("checkout", replicas=3, error_ratio=0.001)
    fault = BadDeploy(at=10, workload=spec.key, image="shop/checkout:2.0", error_ratio=0.3)
    cluster = SimulatedCluster(api, scenario(spec, faults=(fault,)), start=T0)
    at(cluster, 9)
    assert cluster.rates(spec.key).error_ratio == pytest.approx(0.001)

    at(cluster, 12)
    live = kube.apps.read_namespaced_deployment("checkout", NS)
    assert live.spec.template.spec.containers[0].image == "shop/checkout:2.0"
    assert live.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert cluster.rates(spec.key).error_ratio == pytest.approx(0.3)

    _rollout_undo(kube, "checkout")
    at(cluster, 13)
    live = kube.apps.read_namespaced_deployment("checkout", NS)
    assert live.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert cluster.rates(spec.key).error_ratio == pytest.approx(0.001)
    assert {p.image for p in cluster.state(spec.key).pods} == {"shop/checkout:1.0"}


def test_a_restart_annotation_replaces_the_pods_and_clears_the_leak(
    api: FakeKubeApi, kube: Kube
) -> None:
    spec = workload("cart", replicas=2, memory_base_bytes=100 * MIB, memory_limit_bytes=512 * MIB)
    leak = MemoryLeak(at=0, workload=spec.key, bytes_per_second=2 * MIB)
    cluster = SimulatedCluster(api, scenario(spec, faults=(leak,)), start=T0)
    at(cluster, 100)
    state = cluster.state(spec.key)
    old_pods = {p.name for p in state.pods}
    assert [p.memory for p in state.pods] == [pytest.approx(300 * MIB)] * 2

    stamp = "2026-03-01T12:01:40Z"
    body = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": stamp}}}}}  # fmt: skip
    kube.apps.patch_namespaced_deployment("cart", NS, body)
    at(cluster, 101)

    assert not old_pods & {p.name for p in state.pods}
    assert {p.metadata.name for p in kube.core.list_namespaced_pod(NS).items} == {
        p.name for p in state.pods
    }
    assert [p.memory for p in state.pods] == [pytest.approx(102 * MIB)] * 2  # 1 s of leak
    assert all(p.restarts == 0 for p in state.pods)


def test_a_leak_that_reaches_the_limit_is_an_oom_restart(api: FakeKubeApi, kube: Kube) -> None:
    spec = workload("cart", replicas=1, memory_base_bytes=100 * MIB, memory_limit_bytes=200 * MIB)
    leak = MemoryLeak(at=0, workload=spec.key, bytes_per_second=10 * MIB)
    cluster = SimulatedCluster(api, scenario(spec, faults=(leak,)), start=T0)
    at(cluster, 25)
    (pod,) = cluster.state(spec.key).pods
    assert pod.restarts == 2  # killed at 10 s and 20 s
    assert pod.memory == pytest.approx(150 * MIB)
    (live,) = kube.core.list_namespaced_pod(NS).items
    (status,) = live.status.container_statuses
    assert status.restart_count == 2
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.last_state.terminated.finished_at.isoformat() == "2026-03-01T12:00:20+00:00"


def test_a_surge_on_an_hpa_workload_stops_at_max_until_the_hpa_is_raised(
    api: FakeKubeApi, kube: Kube
) -> None:
    hpa = HpaSpec(min_replicas=2, max_replicas=4, target_cpu_utilization=60)
    spec = workload("web", replicas=2, load_rps=40, capacity_rps=40, hpa=hpa)
    surge = TrafficSurge(at=10, workload=spec.key, factor=5)
    cluster = SimulatedCluster(api, scenario(spec, faults=(surge,)), start=T0)
    at(cluster, 60)
    assert kube.apps.read_namespaced_deployment("web", NS).spec.replicas == 4
    assert cluster.rates(spec.key).shed > 0
    status = kube.autoscaling.read_namespaced_horizontal_pod_autoscaler("web", NS).status
    assert (status.current_replicas, status.desired_replicas) == (4, 4)

    kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "web", NS, {"spec": {"maxReplicas": 8}}
    )
    at(cluster, 90)
    assert kube.apps.read_namespaced_deployment("web", NS).spec.replicas == 8
    assert cluster.rates(spec.key).shed == 0
    assert cluster.rates(spec.key).utilisation == pytest.approx(200 / 320)
    writes = [m for m in api.mutations() if m.path.endswith("/deployments/web")]
    assert writes == []  # the controller under test never touched the Deployment


def test_a_new_template_serves_from_the_old_pods_until_the_new_ones_are_ready(
    api: FakeKubeApi, kube: Kube
) -> None:
    spec = workload("checkout", replicas=2, startup_seconds=5)
    bad = BadDeploy(at=10, workload=spec.key, image="shop/checkout:2.0", error_ratio=0.5)
    cluster = SimulatedCluster(api, scenario(spec, faults=(bad,)), start=T0)
    at(cluster, 8)
    assert cluster.rates(spec.key).ready == 2  # ready 5 s after the start
    at(cluster, 12)
    assert cluster.rates(spec.key).error_ratio == pytest.approx(0.001)  # old pods serve
    assert len(cluster.state(spec.key).pods) == 4
    at(cluster, 17)
    assert cluster.rates(spec.key).error_ratio == pytest.approx(0.5)
    assert len(cluster.state(spec.key).pods) == 2


def test_deleting_the_deployment_removes_its_pods(api: FakeKubeApi) -> None:
    spec = workload("checkout")
    cluster = SimulatedCluster(api, scenario(spec), start=T0)
    at(cluster, 2)
    api.delete("deployments", NS, "checkout")
    at(cluster, 3)
    assert cluster.state(spec.key).pods == []
    assert cluster.rates(spec.key).error_ratio == 1.0


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_builtin_scenarios_are_healthy_until_their_fault(api: FakeKubeApi, name: str) -> None:
    spec = builtin(name)
    cluster = SimulatedCluster(api, spec, start=T0)
    shop = api.get("namespaces", None, "shop")
    assert shop is not None and shop["metadata"]["labels"] == {"aiops.dev/remediate": "enabled"}
    at(cluster, 44)
    for workload_spec in spec.workloads:
        rates = cluster.rates(workload_spec.key)
        assert rates.shed == 0 and rates.utilisation < 0.7, (name, workload_spec.key)
        assert rates.error_ratio == pytest.approx(workload_spec.error_ratio)
        assert rates.ready == workload_spec.replicas  # the HPA saw no reason to move
    at(cluster, 60)
    target = spec.faults[0].workload if spec.faults else "shop/frontend"
    rates, state = cluster.rates(target), cluster.state(target)
    hurt = {
        "healthy": rates.error_ratio < 0.01 and rates.utilisation < 0.7,
        "bad-deploy": rates.error_ratio > 0.2,
        "traffic-surge": rates.shed > 0 and rates.ready == 3,  # the HPA is at its max
        "memory-leak": all(p.memory > state.spec.memory_base_bytes for p in state.pods),
        "cpu-saturation": rates.utilisation > 0.9,
    }
    assert hurt[name], (name, rates)


def test_a_paused_rollout_keeps_the_revision_but_still_scales(api: FakeKubeApi, kube: Kube) -> None:
    spec = workload("checkout", replicas=2, image_error_ratios={"shop/checkout:2.0": 0.5})
    cluster = SimulatedCluster(api, scenario(spec), start=T0)
    at(cluster, 1)
    kube.apps.patch_namespaced_deployment("checkout", NS, {"spec": {"paused": True}})
    image = [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
              "value": "shop/checkout:2.0"}]  # fmt: skip
    kube.apps.patch_namespaced_deployment("checkout", NS, image)
    kube.apps.patch_namespaced_deployment_scale("checkout", NS, {"spec": {"replicas": 4}})
    at(cluster, 2)
    assert {p.image for p in cluster.state(spec.key).pods} == {"shop/checkout:1.0"}
    assert cluster.rates(spec.key).ready == 4

    kube.apps.patch_namespaced_deployment("checkout", NS, {"spec": {"paused": False}})
    at(cluster, 3)
    assert {p.image for p in cluster.state(spec.key).pods} == {"shop/checkout:2.0"}
    assert cluster.rates(spec.key).error_ratio == pytest.approx(0.5)
