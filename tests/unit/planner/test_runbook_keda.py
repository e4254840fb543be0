"""Runbook scale templates on a KEDA-owned workload: bounds on the ScaledObject (adapter keda).

KEDA's generated HPA (``keda-hpa-<ScaledObject>``) is what the inventory shows; the planner
renders the same bounds arithmetic as for a plain HPA, names the ScaledObject and the
``keda`` adapter, and leaves the policy switch to the guardrails. Without a recognisable
KEDA HPA it hands off as before.
"""

from __future__ import annotations

from controller.models.actions import AdjustHpaAction, EscalateAction, ScalingAdapter
from controller.models.incident import FaultKind
from controller.models.workloads import HpaSpec, ScalingOwner, WorkloadInventory
from controller.planner.runbook.catalog import Runbook
from controller.planner.runbook.planner import plan_incident
from tests.unit.planner.runbook_builders import CPU, IDLE, NOW, REF, incident, inventory


def keda_inventory(desired: int, bounds: tuple[int, int], hpa_name: str) -> WorkloadInventory:
    base = inventory(desired=desired, owner=ScalingOwner.KEDA)
    hpa = HpaSpec(name=hpa_name, min_replicas=bounds[0], max_replicas=bounds[1])
    return base.model_copy(update={"hpa": hpa})


def test_saturation_on_a_keda_workload_raises_the_scaled_objects_bounds(
    shipped_runbooks: tuple[Runbook, ...],
) -> None:
    inv = keda_inventory(6, (2, 6), "keda-hpa-checkout-scaler")

    plan = plan_incident(incident(FaultKind.SATURATION, (CPU,)), inv, shipped_runbooks, NOW)

    assert plan.action == AdjustHpaAction(
        target=REF, hpa_name="checkout-scaler", from_min=2, from_max=6, to_min=6, to_max=9,
        adapter=ScalingAdapter.KEDA,
    )  # fmt: skip
    assert "KEDA ScaledObject checkout-scaler owns the replicas" in plan.rationale
    assert "adapter keda" in plan.rationale


def test_over_provisioning_on_a_keda_workload_lowers_the_scaled_objects_max(
    shipped_runbooks: tuple[Runbook, ...],
) -> None:
    inv = keda_inventory(8, (3, 10), "keda-hpa-checkout-scaler")

    plan = plan_incident(incident(FaultKind.OVER_PROVISIONING, (IDLE,)), inv, shipped_runbooks, NOW)

    assert isinstance(plan.action, AdjustHpaAction)
    assert plan.action.adapter is ScalingAdapter.KEDA
    assert (plan.action.hpa_name, plan.action.to_min, plan.action.to_max) == (
        "checkout-scaler", 3, 6,
    )  # fmt: skip


def test_a_keda_workload_without_keda_s_hpa_name_hands_off(
    shipped_runbooks: tuple[Runbook, ...],
) -> None:
    renamed = keda_inventory(6, (2, 6), "custom-hpa-name")

    plan = plan_incident(incident(FaultKind.SATURATION, (CPU,)), renamed, shipped_runbooks, NOW)

    assert isinstance(plan.action, EscalateAction)
    assert "owned by keda" in plan.action.reason
