"""Shared set-up of the scaling-adapter tests: KEDA and Argo Rollouts objects, a rig whose
writer allows the given adapters (the policy's ``spec.scaling.adapters``)."""

from __future__ import annotations

from typing import Any

from controller.actuators.reconcile import Actuator
from controller.kube.observer import KubeObserver, LiveReads
from controller.kube.shadow import ShadowWriter
from controller.kube.writer import Adapters, KubeWriter
from controller.models.actions import AdjustHpaAction, ScaleAction, ScalingAdapter
from controller.sim.fakes import StaticKillSwitch
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import CacheFactory, fast_settings
from tests.adapters.kube.writing import CHECKOUT, RETRY, Rig, plain_deployment, seed, writes

KEDA = ScalingAdapter.KEDA
ARGO = ScalingAdapter.ARGO_ROLLOUTS
KEDA_ADJUST = AdjustHpaAction(
    target=CHECKOUT,
    hpa_name="checkout-scaler",
    from_min=1,
    from_max=20,
    to_min=2,
    to_max=40,
    adapter=KEDA,
)
ARGO_SCALE = ScaleAction(target=CHECKOUT, from_replicas=4, to_replicas=6, adapter=ARGO)
ARGO_ADJUST = AdjustHpaAction(
    target=CHECKOUT,
    hpa_name="checkout-rollout",
    from_min=2,
    from_max=10,
    to_min=4,
    to_max=12,
    adapter=ARGO,
)
REVERT_KEY = "revert-key-0001"


def rollout(replicas: int = 4) -> dict[str, Any]:
    """An Argo Rollout in workloadRef mode over ``checkout`` (Argo scaled the Deployment down)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "checkout",
                "scaleDown": "onsuccess",
            },
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
        },
    }


def rollout_hpa() -> dict[str, Any]:
    """An HPA whose scaleTargetRef is the Rollout (Argo's /scale subresource)."""
    hpa = manifests.hpa(name="checkout-rollout")
    hpa["spec"]["scaleTargetRef"] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "checkout",
    }
    return hpa


def seed_keda(api: FakeKubeApi) -> None:
    """``checkout`` scaled by the KEDA ScaledObject ``checkout-scaler`` (bounds 1-20)."""
    api.served = set(CORE_PLURALS) | {"scaledobjects", "rollouts"}
    seed(api)
    api.put("scaledobjects", manifests.scaled_object(target="checkout"))


def seed_argo(api: FakeKubeApi, *, hpa: bool = False) -> None:
    """``checkout`` run by the Rollout ``checkout`` (4 replicas; the Deployment at 0)."""
    api.served = set(CORE_PLURALS) | {"scaledobjects", "rollouts"}
    seed(api, plain_deployment(spec__replicas=0))
    api.put("rollouts", rollout())
    if hpa:
        api.put("horizontalpodautoscalers", rollout_hpa())


def rig_with(
    api: FakeKubeApi,
    make_cache: CacheFactory,
    adapters: Adapters,
    *,
    shadow: bool = False,
) -> Rig:
    """``writing.build_rig`` with the writer's allowed adapters (the policy's list)."""
    cache, client = make_cache()
    cache.start()
    assert cache.wait_synced(5), cache.unsynced()
    slept: list[float] = []
    writer: KubeWriter | ShadowWriter
    if shadow:
        writer = ShadowWriter(
            client, settings=fast_settings(), retry=RETRY, sleep=slept.append, adapters=adapters
        )
    else:
        writer = KubeWriter(
            client, settings=fast_settings(), retry=RETRY, sleep=slept.append, adapters=adapters
        )
    actuator = Actuator(
        reader=LiveReads(KubeObserver(cache, client)),
        writer=writer,
        kill_switch=StaticKillSwitch(),
        receipts=writer if isinstance(writer, KubeWriter) else None,
    )
    api.log.clear()  # the cache's lists and watches are not what these tests are about
    return Rig(api, client, writer, actuator, slept)


def real(api: FakeKubeApi) -> list[Any]:
    """The mutating requests that were not dry runs."""
    return [r for r in writes(api) if not r.dry_run]


def bounds(obj: dict[str, Any]) -> tuple[int, int]:
    """A ScaledObject's ``(minReplicaCount, maxReplicaCount)``."""
    return obj["spec"]["minReplicaCount"], obj["spec"]["maxReplicaCount"]
