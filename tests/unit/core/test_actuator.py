"""The actuator reconciles: kill switch, re-read, compare, precondition, conditional write."""

from __future__ import annotations

import pytest

from controller.actuators.reconcile import Actuator
from controller.errors import TemporaryError
from controller.models.actions import (
    AdjustHpaAction,
    EscalateAction,
    PauseRolloutAction,
    RestartAction,
    RollbackAction,
    ScaleAction,
    idempotency_key,
    inverse,
)
from controller.models.decisions import ActionStatus
from controller.sim.fakes import SimulatedCluster, StaticKillSwitch
from tests.factories import T0, WEB, inventory


def _actuator(cluster: SimulatedCluster, *, killed: bool = False) -> Actuator:
    return Actuator(reader=cluster, writer=cluster, kill_switch=StaticKillSwitch(killed))


def _run(actuator: Actuator, action, *, dry_run: bool = False, key: str = "k1"):
    return actuator.execute(action, plan_hash="h", key=key, dry_run=dry_run, now=T0)


SCALE = ScaleAction(target=WEB, from_replicas=4, to_replicas=8)


def test_scale_is_applied_once_then_already_done() -> None:
    cluster = SimulatedCluster([inventory()])
    actuator = _actuator(cluster)
    first = _run(actuator, SCALE)
    second = _run(actuator, SCALE)
    assert first.status is ActionStatus.APPLIED
    assert second.status is ActionStatus.ALREADY_DONE
    assert len(cluster.writes) == 1
    live = cluster.get_workload(WEB)
    assert live is not None and live.inventory.replicas.desired == 8


def test_kill_switch_blocks_every_mutation() -> None:
    cluster = SimulatedCluster([inventory()])
    result = _run(_actuator(cluster, killed=True), SCALE)
    assert result.status is ActionStatus.FAILED
    assert "kill switch" in result.detail
    assert cluster.writes == []


def test_changed_object_fails_the_precondition() -> None:
    cluster = SimulatedCluster([inventory(replicas=5)])
    result = _run(_actuator(cluster), SCALE)
    assert result.status is ActionStatus.FAILED
    assert "replicas changed from 4 to 5" in result.detail
    assert cluster.writes == []


def test_dry_run_changes_nothing() -> None:
    cluster = SimulatedCluster([inventory()])
    assert _run(_actuator(cluster), SCALE, dry_run=True).status is ActionStatus.DRY_RUN
    assert cluster.writes == []


def test_missing_target() -> None:
    cluster = SimulatedCluster([])
    result = _run(_actuator(cluster), SCALE)
    assert result.status is ActionStatus.FAILED and "no longer exists" in result.detail


def test_conditional_write_rejects_a_stale_version() -> None:
    cluster = SimulatedCluster([inventory()])
    with pytest.raises(TemporaryError, match="conflict"):
        cluster.apply(SCALE, resource_version="0", idempotency_key="k", now=T0)


def test_rollback_hpa_restart_pause_reconcile() -> None:
    cluster = SimulatedCluster([inventory(hpa=(2, 6), revisions=3)])
    actuator = _actuator(cluster)
    actions = [
        RollbackAction(target=WEB, from_revision=3, to_revision=2),
        AdjustHpaAction(target=WEB, hpa_name="web", from_min=2, from_max=6, to_min=4, to_max=12),
        RestartAction(target=WEB),
        PauseRolloutAction(target=WEB),
    ]
    assert [_run(actuator, a).status for a in actions] == [ActionStatus.APPLIED] * 4
    assert [_run(actuator, a).status for a in actions] == [ActionStatus.ALREADY_DONE] * 4
    live = cluster.get_workload(WEB)
    assert live is not None
    assert live.inventory.current_revision == 2
    assert live.inventory.hpa is not None and live.inventory.hpa.max_replicas == 12
    assert live.paused
    # A restart for another plan is a new effect.
    assert _run(actuator, actions[2], key="other").status is ActionStatus.APPLIED


def test_non_mutating_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="does not change"):
        _run(_actuator(SimulatedCluster([inventory()])), EscalateAction(reason="x"))


def test_inverse_restores_scale_and_hpa_but_not_rollbacks() -> None:
    assert inverse(SCALE) == ScaleAction(target=WEB, from_replicas=8, to_replicas=4)
    hpa = AdjustHpaAction(target=WEB, hpa_name="w", from_min=2, from_max=6, to_min=3, to_max=9)
    undone = inverse(hpa)
    assert isinstance(undone, AdjustHpaAction)
    assert (undone.to_min, undone.to_max) == (2, 6)
    assert inverse(RollbackAction(target=WEB, from_revision=3, to_revision=2)) is None
    assert inverse(RestartAction(target=WEB)) is None


def test_idempotency_keys_are_stable_and_distinct() -> None:
    assert idempotency_key("i", "h") == idempotency_key("i", "h")
    assert idempotency_key("i", "h", 0) != idempotency_key("i", "h", 1)
    assert idempotency_key("i", "h") != idempotency_key("j", "h")


def test_recorded_deploys_move_the_simulated_cluster_at_their_time() -> None:
    from datetime import timedelta

    from controller.models.events import ClusterEvent, EventKind

    deploy = ClusterEvent(
        time=T0 + timedelta(minutes=5),
        kind=EventKind.DEPLOY,
        workload=WEB,
        revision=4,
        previous_revision=3,
        image="registry.example.com/web:1.4.0",
        reason="DeploymentUpdated",
    )
    cluster = SimulatedCluster([inventory(revisions=3)], events=[deploy])
    cluster.advance_to(T0)
    live = cluster.get_workload(WEB)
    assert live is not None and live.inventory.current_revision == 3
    cluster.advance_to(T0 + timedelta(minutes=5))
    live = cluster.get_workload(WEB)
    assert live is not None and live.inventory.current_revision == 4
    assert live.inventory.current is not None
    assert live.inventory.current.image == "registry.example.com/web:1.4.0"
    assert live.resource_version != "1"  # the world's change bumps the version
    assert cluster.events(WEB, T0) == ()
    assert cluster.events(WEB, T0 + timedelta(minutes=5)) == (deploy,)
