"""The small fixes the end-to-end tests needed, each pinned on its own (fast, no Prometheus):

- the fake's deployment controller leaves the ``Progressing`` condition a finished rollout
  leaves on a cluster, so the operator sees ``rollout_complete`` (else every deploy looks in
  flight and a rollback always needs a human, CH-23);
- ``aiops run`` plugs the cluster kill switch in behind ``FreezeGate``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta

import pytest

from controller.guardrails.freeze import FreezeGate
from controller.kube.client import build_api_client
from controller.kube.events import condition_events
from controller.models.events import EventKind
from controller.models.workloads import WorkloadRef
from controller.operator.demo import release_kill_switch
from controller.settings import Settings
from controller.sim.kube_api import FakeKubeApi
from controller.sim.kube_api.controllers import sync_deployment
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import fast_settings


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    api = FakeKubeApi(deployment_controller=True, max_lifetime=60).start()
    yield api
    api.stop()
    assert api.internal_errors == []


def _progressing(api: FakeKubeApi) -> dict[str, object]:
    stored = api.get("deployments", "shop", "checkout")
    assert stored is not None
    found = [c for c in stored["status"].get("conditions", []) if c["type"] == "Progressing"]
    assert len(found) == 1, stored["status"]
    return dict(found[0])


KEY = ("deployments", "shop", "checkout")


def _write(api: FakeKubeApi, obj: dict[str, object]) -> None:
    """Store ``obj`` and run the fake's deployment controller, as an HTTP write does."""
    api.put("deployments", obj)
    sync_deployment(api.store, KEY)


def test_a_finished_rollout_reads_as_complete(fake: FakeKubeApi) -> None:
    deployment = manifests.deployment()
    deployment["status"].pop("conditions", None)  # as a client creates it: no status yet
    _write(fake, deployment)
    first = _progressing(fake)
    assert first["status"] == "True" and first["reason"] == "NewReplicaSetAvailable"
    stored = fake.get(*KEY)
    assert stored is not None
    ref = WorkloadRef(namespace="shop", name="checkout")
    assert [e.kind for e in condition_events(ref, stored)] == [EventKind.ROLLOUT_COMPLETE]

    # a replica change is no new rollout: the condition keeps its time
    scaled = copy.deepcopy(stored)
    scaled["spec"]["replicas"] = 5
    _write(fake, scaled)
    assert _progressing(fake)["lastUpdateTime"] == first["lastUpdateTime"]

    # a new template is: a new revision, the condition stamped again (not before the first)
    changed = copy.deepcopy(fake.get(*KEY))
    assert changed is not None
    revision = int(changed["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "example/checkout:2"
    _write(fake, changed)
    again = fake.get(*KEY)
    assert again is not None
    moved = again["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    assert moved == str(revision + 1)
    assert str(_progressing(fake)["lastUpdateTime"]) >= str(first["lastUpdateTime"])


def test_aiops_run_plugs_in_the_cluster_kill_switch(fake: FakeKubeApi) -> None:
    from controller.cli.run import kill_switch_factory

    settings = Settings().model_copy(
        update={
            "kill_switch": Settings().kill_switch.model_copy(update={"cache_for": timedelta(0)})
        }
    )
    client = build_api_client(fast_settings(), host=fake.url)
    try:
        gate = kill_switch_factory(settings)(client)
        assert isinstance(gate, FreezeGate)
        assert gate.engaged()  # missing ConfigMap: fail closed
        switch = settings.kill_switch
        release_kill_switch(fake, switch.namespace, switch.name)
        assert not gate.engaged()
        stored = fake.get("configmaps", switch.namespace, switch.name)
        assert stored is not None
        fake.put("configmaps", {**stored, "data": {"engaged": "true", "reason": "test"}})
        assert gate.engaged()
        assert "kill switch engaged" in gate.reasons()[0]
    finally:
        client.close()
