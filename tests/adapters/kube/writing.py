"""Shared set-up of the writer tests: a seeded fake, the real client, writer and actuator."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.actuators.reconcile import Actuator
from controller.kube.client import RateLimitedApiClient
from controller.kube.observer import KubeObserver, LiveReads
from controller.kube.shadow import ShadowWriter
from controller.kube.writer import KubeWriter
from controller.kube.writes import LAST_ACTION_ANNOTATION, PRE_STATE_ANNOTATION
from controller.models.actions import Action, idempotency_key
from controller.models.decisions import ActionResult
from controller.models.workloads import WorkloadRef
from controller.settings import RetrySettings
from controller.sim.fakes import StaticKillSwitch
from controller.sim.kube_api import FakeKubeApi, RecordedRequest
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import CacheFactory, fast_settings, wait_until

CHECKOUT = WorkloadRef(namespace="shop", name="checkout")
NOW = datetime(2026, 3, 10, 13, tzinfo=UTC)
KEY = idempotency_key("inc-1", "plan-1")
RETRY = RetrySettings(
    attempts=3,
    initial_backoff=timedelta(milliseconds=10),
    max_backoff=timedelta(milliseconds=40),
    max_retry_after=timedelta(seconds=5),
)


def plain_deployment(**changes: Any) -> dict[str, Any]:
    """``checkout`` without the Argo CD label: a Deployment nobody else manages."""
    obj = manifests.deployment(**changes)
    obj["metadata"]["labels"] = {"app": "checkout"}
    return obj


def seed(api: FakeKubeApi, deployment: dict[str, Any] | None = None, *, hpa: bool = False) -> None:
    """The shop namespace, ``checkout`` with revisions 1..3, optionally its HPA."""
    api.put("namespaces", manifests.namespace(**{"aiops.dev/remediate": "enabled"}))
    api.put("deployments", deployment if deployment is not None else plain_deployment())
    for replicaset in manifests.replicasets():
        api.put("replicasets", replicaset)
    if hpa:
        api.put("horizontalpodautoscalers", manifests.hpa())


def stored(api: FakeKubeApi, plural: str = "deployments", name: str = "checkout") -> Any:
    """The object as the fake stores it (it must exist)."""
    found = api.get(plural, "shop", name)
    assert found is not None, f"{plural}/{name} missing"
    return found


def notes_of(obj: dict[str, Any]) -> dict[str, str]:
    """An object's annotations."""
    return dict(obj["metadata"].get("annotations") or {})


def pre_state(obj: dict[str, Any]) -> dict[str, Any]:
    """The decoded ``aiops.dev/pre-state`` annotation."""
    return dict(json.loads(notes_of(obj)[PRE_STATE_ANNOTATION]))


def receipt(obj: dict[str, Any]) -> str | None:
    """The ``aiops.dev/last-action`` annotation."""
    return notes_of(obj).get(LAST_ACTION_ANNOTATION)


def writes(api: FakeKubeApi) -> list[RecordedRequest]:
    """Every mutating request the fake received (dry runs included), oldest first."""
    return api.mutations()


def short(request: RecordedRequest) -> str:
    """``PATCH deployments/checkout/scale dry-run`` for readable assertions."""
    path = request.path.split("/namespaces/shop/", 1)[-1]
    return f"{request.method} {path}{' dry-run' if request.dry_run else ''}"


@dataclass
class Rig:
    """One test's wiring: the fake, a client, the writer, an actuator over live reads."""

    api: FakeKubeApi
    client: RateLimitedApiClient
    writer: KubeWriter | ShadowWriter
    actuator: Actuator
    slept: list[float] = field(default_factory=list)

    def run(self, action: Action, *, key: str = KEY, dry_run: bool = False) -> ActionResult:
        """Execute ``action`` through the reconciling actuator."""
        return self.actuator.execute(action, plan_hash="plan-1", key=key, dry_run=dry_run, now=NOW)

    def caught_up(self, predicate: Callable[[], bool]) -> bool:
        """Wait (bounded) for the watch cache to see a change."""
        return wait_until(predicate, 5.0)


def build_rig(
    api: FakeKubeApi, make_cache: CacheFactory, *, shadow: bool = False, allow_gitops: bool = False
) -> Rig:
    """A synced cache, a writer with a recorded (not slept) retry wait, and the actuator."""
    cache, client = make_cache()
    cache.start()
    assert cache.wait_synced(5), cache.unsynced()
    slept: list[float] = []
    settings = fast_settings()
    writer: KubeWriter | ShadowWriter
    if shadow:
        writer = ShadowWriter(client, settings=settings, retry=RETRY, sleep=slept.append)
    else:
        writer = KubeWriter(
            client, settings=settings, retry=RETRY, sleep=slept.append, allow_gitops=allow_gitops
        )
    receipts = writer if isinstance(writer, KubeWriter) else None
    actuator = Actuator(
        reader=LiveReads(KubeObserver(cache, client)),
        writer=writer,
        kill_switch=StaticKillSwitch(),
        receipts=receipts,
    )
    api.log.clear()  # the cache's lists and watches are not what these tests are about
    return Rig(api, client, writer, actuator, slept)
