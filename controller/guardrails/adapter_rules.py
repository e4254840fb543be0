"""The guardrail for scaling through an adapter (KEDA, Argo Rollouts): pure, like the engine.

A ``scale`` or ``adjust_hpa`` that names an ``adapter`` changes another controller's object
(the KEDA ScaledObject's bounds, the Argo Rollout's replicas or its HPA's bounds) instead of
the Deployment's replicas, which that controller owns (R16). It is allowed only when

- the policy names the adapter in ``spec.scaling.adapters`` (default: none), and
- the workload's scaling owner is that adapter's controller (a plan made for another owner,
  or one the owner left since, is re-planned, not forced through).

Otherwise the denial is ``SCALING_OWNED_ELSEWHERE`` with a reason that says which of the two
failed and what to change. The replica caps apply unchanged (floor, ceiling, x factor and
/fraction per step, never 0): the engine clamps the adapter's counts like any other.

The facts carry the Deployment's inventory, not the ScaledObject or the Rollout, so the
step is measured from the plan's ``from_*`` values; the writer then refuses the write unless
those are the live values on the adapter's object (a conditional write on its
resourceVersion), so a plan cannot claim a larger base than the cluster has.
"""

from __future__ import annotations

from controller.guardrails.policy import PolicySpec
from controller.models.actions import AdjustHpaAction, ScaleAction, ScalingAdapter
from controller.models.decisions import Reason, ReasonCode
from controller.models.workloads import ScalingOwner, WorkloadInventory

OWNER_OF = {
    ScalingAdapter.KEDA: ScalingOwner.KEDA,
    ScalingAdapter.ARGO_ROLLOUTS: ScalingOwner.ARGO_ROLLOUTS,
}
"""The scaling owner each adapter writes for."""


def adapter_denial(
    action: ScaleAction | AdjustHpaAction, spec: PolicySpec, inventory: WorkloadInventory
) -> Reason | None:
    """Why ``action`` may not go through its adapter, or None (also None without one)."""
    adapter = action.adapter
    if adapter is None:
        return None
    owner = inventory.scaling_owner
    if owner is not OWNER_OF[adapter]:
        detail = (
            f"plan scales {action.target} through the {adapter.value} adapter, but its replicas "
            f"are owned by {owner}: re-plan for the real owner (R16)"
        )
        return Reason(code=ReasonCode.SCALING_OWNED_ELSEWHERE, detail=detail)
    if not spec.scaling.allows(adapter):
        detail = (
            f"replicas of {action.target} are owned by {owner}, and the policy's "
            f"spec.scaling.adapters does not name {adapter.value}: its object is not changed "
            "(R16)"
        )
        return Reason(code=ReasonCode.SCALING_OWNED_ELSEWHERE, detail=detail)
    return None
