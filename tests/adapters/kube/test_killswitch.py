"""The cluster kill switch (R14, CH-24) over the fake API with the real client: engaged,
disengaged, missing, malformed and unreadable (every fault is "engaged"); writes stop on the
next write, a switch flipped between two writes included; and the one freeze path
(``FreezeGate``) that folds in the policy's freeze windows and the fleet-anomaly freeze."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.actuators.reconcile import Actuator
from controller.guardrails.freeze import FreezeGate, FreezeSignal
from controller.guardrails.policy import FreezeWindow
from controller.kube.client import RateLimitedApiClient, Timeouts, build_api_client
from controller.kube.killswitch import ClusterKillSwitch, set_switch, state_of
from controller.kube.objects import ObjectCalls
from controller.kube.observer import KubeObserver, LiveReads
from controller.kube.writer import KubeWriter
from controller.models.actions import ScaleAction
from controller.models.decisions import ActionStatus
from controller.models.modes import Mode, SourceHealth
from controller.observers.freshness import next_mode
from controller.settings import KillSwitchSettings, ModeSettings
from controller.sim.fakes import SimulatedClock, StaticKillSwitch
from controller.sim.kube_api import FakeKubeApi, Fault
from tests.adapters.kube.conftest import CacheFactory, fast_settings
from tests.adapters.kube.writing import CHECKOUT, KEY, NOW, RETRY, seed

SETTINGS = KillSwitchSettings(
    namespace="aiops", name="aiops-controller-kill-switch",
    cache_for=timedelta(0), request_timeout=timedelta(seconds=1),
)  # fmt: skip
SCALE = ScaleAction(target=CHECKOUT, from_replicas=4, to_replicas=6)


def switch_map(data: dict[str, Any] | None) -> dict[str, Any]:
    """The kill-switch ConfigMap with ``data`` (None: no data at all)."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": SETTINGS.name, "namespace": SETTINGS.namespace},
    }
    if data is not None:
        obj["data"] = data
    return obj


@pytest.fixture
def client(fake_api: FakeKubeApi) -> Iterator[RateLimitedApiClient]:
    fake_api.served.add("configmaps")
    made = build_api_client(fast_settings(), host=fake_api.url)
    yield made
    made.close()


@pytest.fixture
def switch(client: RateLimitedApiClient) -> ClusterKillSwitch:
    return ClusterKillSwitch(client, SETTINGS)


# ----- reading the switch: fail closed ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "engaged", "says"),
    [
        ({"engaged": "false"}, False, "kill switch disengaged"),
        ({"engaged": "true", "reason": "sale", "by": "kube:alice", "at": "2026-03-10T12:00:00Z"},
         True, "kill switch engaged by kube:alice at 2026-03-10T12:00:00Z: sale"),
        ({"engaged": "yes"}, True, "data.engaged is 'yes'"),
        ({"engaged": "False"}, True, "not \"true\" or \"false\""),
        ({"reason": "no flag"}, True, "data.engaged is missing"),
        (None, True, "has no data"),
    ],
)  # fmt: skip
def test_the_switch_says_what_the_config_map_says_and_malformed_is_engaged(
    fake_api: FakeKubeApi, switch: ClusterKillSwitch, data: Any, engaged: bool, says: str
):
    fake_api.put("configmaps", switch_map(data))
    state = switch.state()
    assert state.engaged is engaged and switch.engaged() is engaged
    assert says in state.describe()


def test_a_missing_switch_is_engaged(switch: ClusterKillSwitch):
    state = switch.state()
    assert state.engaged and not state.readable
    assert "ConfigMap aiops/aiops-controller-kill-switch not found" in state.describe()


@pytest.mark.parametrize(
    "fault",
    [
        Fault.server_error(500),
        Fault.server_error(503, retry_after=1),
        Fault.too_many_requests(retry_after=1),
        Fault.reset(),
        Fault.slow(2.0),  # longer than the 1 s request timeout
    ],
    ids=["500", "503", "429", "reset", "timeout"],
)
def test_an_unreadable_switch_is_engaged(
    fake_api: FakeKubeApi, switch: ClusterKillSwitch, fault: Fault
):
    fake_api.put("configmaps", switch_map({"engaged": "false"}))
    assert not switch.engaged()
    fake_api.inject(fault)
    state = switch.refresh()
    assert state.engaged and "cannot read ConfigMap" in state.describe()
    assert len(fake_api.requests_for("configmaps", watch=False)) == 0  # GETs of one object
    assert sum(1 for r in fake_api.requests if "configmaps" in r.path) == 2  # no retry
    fake_api.faults.clear()
    assert not switch.engaged()


def test_forbidden_is_engaged(fake_api: FakeKubeApi, switch: ClusterKillSwitch):
    fake_api.put("configmaps", switch_map({"engaged": "false"}))
    fake_api.forbidden.add("configmaps")
    assert switch.engaged()
    assert "403" in switch.state().describe()


def test_reads_are_memoised_for_cache_for_only(fake_api: FakeKubeApi, client: RateLimitedApiClient):
    fake_api.put("configmaps", switch_map({"engaged": "false"}))
    now = [0.0]
    memo = SETTINGS.model_copy(update={"cache_for": timedelta(seconds=1)})
    cached = ClusterKillSwitch(client, memo, monotonic=lambda: now[0])
    assert not cached.engaged()  # t=0: a GET
    fake_api.put("configmaps", switch_map({"engaged": "true"}))
    now[0] = 0.5
    assert not cached.engaged()  # the memo
    now[0] = 1.2
    assert cached.engaged()  # a new GET sees it
    assert sum(1 for r in fake_api.requests if "configmaps" in r.path) == 2


# ----- writes stop --------------------------------------------------------------------------


def _actuator(
    fake_api: FakeKubeApi, make_cache: CacheFactory, switch: Any
) -> tuple[Actuator, KubeWriter]:
    seed(fake_api)
    cache, client = make_cache()
    cache.start()
    assert cache.wait_synced(5), cache.unsynced()
    writer = KubeWriter(client, settings=fast_settings(), retry=RETRY, sleep=lambda _: None)
    actuator = Actuator(reader=LiveReads(KubeObserver(cache, client)), writer=writer,
                        kill_switch=switch, receipts=writer)  # fmt: skip
    fake_api.log.clear()
    return actuator, writer


def _deployment_writes(fake_api: FakeKubeApi) -> list[str]:
    return [r.path for r in fake_api.mutations() if "/deployments/" in r.path]


@pytest.mark.parametrize(
    "engage",
    ["true", "malformed", "missing", "unreadable"],
)
def test_an_engaged_or_unreadable_switch_stops_every_write(
    fake_api: FakeKubeApi, make_cache: CacheFactory, switch: ClusterKillSwitch, engage: str
):
    actuator, _ = _actuator(fake_api, make_cache, switch)
    if engage == "true":
        fake_api.put("configmaps", switch_map({"engaged": "true", "reason": "freeze"}))
    elif engage == "malformed":
        fake_api.put("configmaps", switch_map({"engaged": "maybe"}))
    elif engage == "unreadable":
        fake_api.put("configmaps", switch_map({"engaged": "false"}))
        fake_api.inject(Fault.server_error(503, path_contains="configmaps"))
    result = actuator.execute(SCALE, plan_hash="plan-1", key=KEY, dry_run=False, now=NOW)
    assert result.status is ActionStatus.FAILED and "kill switch" in result.detail
    assert _deployment_writes(fake_api) == []  # not even a dry run


def test_a_switch_flipped_between_two_writes_stops_the_second(
    fake_api: FakeKubeApi, make_cache: CacheFactory, switch: ClusterKillSwitch
):
    fake_api.put("configmaps", switch_map({"engaged": "false"}))
    actuator, _ = _actuator(fake_api, make_cache, switch)
    first = actuator.execute(SCALE, plan_hash="plan-1", key=KEY, dry_run=False, now=NOW)
    assert first.status is ActionStatus.APPLIED, first.detail
    written = len(_deployment_writes(fake_api))
    fake_api.put("configmaps", switch_map({"engaged": "true", "reason": "stop now"}))
    back = ScaleAction(target=CHECKOUT, from_replicas=6, to_replicas=4)
    second = actuator.execute(back, plan_hash="plan-2", key="k2", dry_run=False, now=NOW)
    assert second.status is ActionStatus.FAILED and "kill switch" in second.detail
    assert len(_deployment_writes(fake_api)) == written
    assert fake_api.get("deployments", "shop", "checkout")["spec"]["replicas"] == 6  # type: ignore[index]


# ----- the write side -----------------------------------------------------------------------


def test_set_switch_creates_then_patches_conditionally(
    fake_api: FakeKubeApi, client: RateLimitedApiClient, switch: ClusterKillSwitch
):
    calls = ObjectCalls(client, timeouts=Timeouts(3.0, 3.0))
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    engaged = set_switch(calls, SETTINGS, engaged=True, reason="sale", by="kube:alice", now=at)
    assert engaged.engaged and switch.engaged()
    assert [r.method for r in fake_api.mutations()] == ["POST"]
    fake_api.inject(Fault.concurrent_write("configmaps", "aiops", SETTINGS.name,
                                           methods={"PATCH"}, times=1))  # fmt: skip
    released = set_switch(calls, SETTINGS, engaged=False, reason="over", by="kube:bob", now=at)
    assert not released.engaged and not switch.engaged()
    assert [(r.method, r.status) for r in fake_api.mutations()][1:] == [
        ("PATCH", 409), ("PATCH", 200),
    ]  # fmt: skip
    stored = fake_api.get("configmaps", "aiops", SETTINGS.name)
    assert stored is not None and stored["data"]["by"] == "kube:bob"


def test_state_of_is_pure_and_bounds_what_it_keeps():
    state = state_of(switch_map({"engaged": "true", "reason": "x" * 5000}), "a/b")
    assert state.engaged and len(state.reason) == 500
    assert state_of(None, "a/b").engaged


# ----- one freeze path ------------------------------------------------------------------------


class _Fleet:
    def __init__(self, frozen: bool, reasons: tuple[str, ...] = ()) -> None:
        self.frozen, self.reasons = frozen, reasons


T = datetime(2026, 3, 14, 10, tzinfo=UTC)  # a Saturday


def test_the_gate_stops_writes_for_the_switch_a_freeze_window_and_the_fleet_freeze():
    clock, switch = SimulatedClock(T), StaticKillSwitch()
    window = FreezeWindow.model_validate(
        {"name": "sale", "from": T + timedelta(hours=1), "to": T + timedelta(hours=2)}
    )
    gate = FreezeGate(switch, clock=clock, windows=lambda: (window,))
    assert not gate.engaged() and gate.reasons() == ()
    switch.is_engaged = True
    assert gate.engaged() and gate.reasons() == ("kill switch engaged",)
    switch.is_engaged = False
    clock.set(T + timedelta(hours=1, minutes=5))
    assert gate.engaged() and "freeze window 'sale' is open" in gate.reasons()[0]
    clock.set(T + timedelta(hours=3))
    assert not gate.engaged()
    gate.compose(_Fleet(True, ("20 of 20 workloads breached",)))
    assert gate.reasons() == ("fleet anomaly: 20 of 20 workloads breached",)
    gate.compose(_Fleet(False))
    assert not gate.engaged()


def test_an_engaged_switch_freezes_the_mode_and_release_waits_a_recovery_window(
    fake_api: FakeKubeApi, switch: ClusterKillSwitch
):
    fake_api.put("configmaps", switch_map({"engaged": "true", "reason": "sale", "by": "kube:a"}))
    gate = FreezeGate(switch, clock=SimulatedClock(T))
    settings = ModeSettings(recovery_window=timedelta(minutes=5))
    ok = [SourceHealth(source="prometheus", ok=True, last_success=T),
          SourceHealth(source="kubernetes", ok=True)]  # fmt: skip
    signal = gate.compose(_Fleet(False))
    assert signal == FreezeSignal(True, ("kill switch engaged by kube:a: sale",))
    frozen = next_mode(None, ok, signal, T, settings)
    assert frozen.state.mode is Mode.FROZEN
    assert frozen.state.reasons[0] == "kill switch engaged by kube:a: sale"  # not "fleet anomaly"
    fake_api.put("configmaps", switch_map({"engaged": "false"}))
    later = T + timedelta(minutes=1)
    ok = [s.model_copy(update={"last_success": later}) if s.last_success else s for s in ok]
    held = next_mode(frozen, ok, gate.compose(_Fleet(False)), later, settings)
    assert held.state.mode is Mode.FROZEN  # no burst on release: a full recovery window first
    done = T + timedelta(minutes=7)
    ok = [s.model_copy(update={"last_success": done}) if s.last_success else s for s in ok]
    assert next_mode(held, ok, gate.compose(_Fleet(False)), done, settings).state.mode is (
        Mode.NORMAL
    )
