"""Shared set-up of the Remediation tests: a fake serving the chart's CRD, the real client,
and valid plans, decisions and requests for ``shop/checkout``. The fixtures are registered
in this folder's ``conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.kube.client import RateLimitedApiClient, Timeouts, build_api_client
from controller.kube.remediation_body import REMEDIATIONS
from controller.kube.remediations import RemediationChannel, RemediationLedger, RemediationStore
from controller.models.actions import Plan, PlannerKind, Risk, ScaleAction, VerificationSpec
from controller.models.decisions import (
    ApprovalRequest,
    PolicyDecision,
    Reason,
    ReasonCode,
    Verdict,
)
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from controller.settings import KubeSettings
from controller.sim.fakes import InMemoryLedger, SimulatedClock
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi, remediation_crd
from controller.state.inbox import StoredInbox
from tests.adapters.kube import manifests

T0 = datetime(2026, 3, 10, 13, 0, 0, 250_000, tzinfo=UTC)
CHECKOUT = WorkloadRef(namespace="shop", name="checkout")
REMEDIATIONS_PATH = "/apis/aiops.dev/v1alpha1/namespaces/shop/remediations"


def plan(to_replicas: int = 6, *, verify: bool = True) -> Plan:
    """A scale of ``shop/checkout`` from 4 replicas, verified on p99 latency."""
    return Plan(
        incident_id="inc-1",
        planner=PlannerKind.RUNBOOK,
        action=ScaleAction(target=CHECKOUT, from_replicas=4, to_replicas=to_replicas),
        risk=Risk.MEDIUM,
        rationale="p99 latency burns the SLO at 4 replicas; add capacity",
        verification=VerificationSpec(
            signal=Signal.LATENCY_P99, expect="decrease", bake=timedelta(minutes=5)
        )
        if verify
        else None,
        snapshot_at=T0,
    )


def decision(the_plan: Plan, verdict: Verdict, code: ReasonCode) -> PolicyDecision:
    """The policy's verdict on ``the_plan`` with one reason."""
    return PolicyDecision(
        plan_hash=the_plan.plan_hash(),
        verdict=verdict,
        reasons=(Reason(code=code, detail=f"{code.value} (test)"),),
        action=the_plan.action,
        policy_name="default",
        policy_hash="0" * 64,
        evaluated_at=T0,
    )


def request(the_plan: Plan, ttl: timedelta = timedelta(minutes=15)) -> ApprovalRequest:
    """The approval request for ``the_plan``, asked at T0."""
    return ApprovalRequest(
        incident_id=the_plan.incident_id,
        plan_hash=the_plan.plan_hash(),
        snapshot_at=the_plan.snapshot_at,
        requested_at=T0,
        expires_at=T0 + ttl,
        action=the_plan.action,
        summary=the_plan.rationale,
        reasons=(Reason(code=ReasonCode.APPROVAL_REQUIRED_RISK, detail="medium risk"),),
    )


@dataclass
class RemediationRig:
    """One test's wiring: the fake, a client, the store, its channel and ledger mirror."""

    api: FakeKubeApi
    client: RateLimitedApiClient
    clock: SimulatedClock
    store: RemediationStore
    inbox: StoredInbox
    channel: RemediationChannel
    ledger: RemediationLedger
    inner: InMemoryLedger

    def stored(self, name: str) -> dict[str, Any]:
        """The Remediation as the fake stores it (it must exist)."""
        found = self.api.get("remediations", "shop", name)
        assert found is not None, f"remediation {name} missing"
        return found

    def current(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as stored now."""
        return self.stored(obj["metadata"]["name"])

    def only(self) -> dict[str, Any]:
        """The one Remediation there is."""
        (found,) = self.store.calls.list_custom(REMEDIATIONS, "shop")
        return found

    def new_store(self) -> RemediationStore:
        """Another replica's store: nothing in memory, only the cluster."""
        return RemediationStore(
            self.client, timeouts=Timeouts(3.0, 3.0), clock=self.clock, mode="propose"
        )


@pytest.fixture
def crd_api() -> Iterator[FakeKubeApi]:
    """A fake serving the chart's Remediation CRD and ConfigMaps, with ``shop`` seeded."""
    api = FakeKubeApi(served=set(CORE_PLURALS) | {"configmaps"}).start()
    api.install_crd(remediation_crd())
    api.put("namespaces", manifests.namespace(**{"aiops.dev/remediate": "enabled"}))
    yield api
    api.stop()
    assert api.internal_errors == [], "the fake itself failed while serving"


@pytest.fixture
def rig(crd_api: FakeKubeApi) -> Iterator[RemediationRig]:
    """The store, channel and mirror over ``crd_api`` through the real client."""
    settings = KubeSettings(qps=1000.0, request_timeout=timedelta(seconds=3))
    client = build_api_client(settings, host=crd_api.url)
    clock = SimulatedClock(T0)
    store = RemediationStore(client, timeouts=Timeouts(3.0, 3.0), clock=clock, mode="propose")
    inbox = StoredInbox()
    inner = InMemoryLedger()
    yield RemediationRig(
        crd_api, client, clock, store, inbox, RemediationChannel(store, inbox, clock),
        RemediationLedger(inner, store), inner,
    )  # fmt: skip
    client.close()
