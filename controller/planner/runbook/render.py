"""Render a runbook's action template into a concrete action for one incident (pure).

Rendering either succeeds with an action and a one-sentence summary that quotes the numbers,
or hands off with a reason; the planner turns a hand-off into an escalation. Handing off is the
safe answer whenever the inventory cannot support the template: the planner never guesses a
revision, a replica count or a target, and it only ever targets ``incident.workload``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.models.actions import (
    Action,
    AdjustHpaAction,
    PauseRolloutAction,
    RestartAction,
    RollbackAction,
    ScaleAction,
    ScalingAdapter,
)
from controller.models.events import ClusterEvent
from controller.models.incident import Incident
from controller.models.workloads import (
    HpaSpec,
    Revision,
    ScalingOwner,
    WorkloadInventory,
    WorkloadRef,
)
from controller.planner.runbook.catalog import (
    ActionTemplate,
    EscalateTemplate,
    PauseRolloutTemplate,
    RestartTemplate,
    RollbackTemplate,
    ScaleTemplate,
)

KEDA_HPA_PREFIX = "keda-hpa-"
"""KEDA names the HPA it generates ``keda-hpa-<ScaledObject name>`` (its documented default
of ``advanced.horizontalPodAutoscalerConfig.name``)."""

_ROUNDING_DIGITS = 9
"""Round before ceil/floor so that 10 x 1.1 is 11, not 12 (binary floating point)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A concrete action and one sentence saying what it does, with its numbers."""

    action: Action
    summary: str


@dataclass(frozen=True, slots=True)
class Handoff:
    """Do not act: hand the incident to a human. ``reason`` says why, for that human.

    Either the runbook itself says to escalate, or its template cannot be applied safely.
    """

    reason: str


def render_action(
    template: ActionTemplate, incident: Incident, inventory: WorkloadInventory
) -> Rendered | Handoff:
    """Render ``template`` for ``incident.workload``; an escalate template is a hand-off.

    Mutating templates first check that the inventory and the lead hypothesis are about the
    incident's own workload: acting on one workload because of another's data is a guess.
    """
    if isinstance(template, EscalateTemplate):
        return Handoff(template.reason)
    mismatch = _target_mismatch(incident, inventory)
    if mismatch is not None:
        return mismatch
    target = incident.workload
    if isinstance(template, RollbackTemplate):
        return _render_rollback(incident, inventory)
    if isinstance(template, ScaleTemplate):
        return _render_scale(template, inventory)
    if isinstance(template, RestartTemplate):
        return Rendered(RestartAction(target=target), f"Restart {target} (rolling, same revision).")
    if isinstance(template, PauseRolloutTemplate):
        return Rendered(
            PauseRolloutAction(target=target), f"Pause the in-flight rollout of {target}."
        )
    raise AssertionError(f"unhandled template {template!r}")  # pragma: no cover - exhaustive


def _target_mismatch(incident: Incident, inventory: WorkloadInventory) -> Handoff | None:
    """Refuse when the data describes another workload than the one the incident is about."""
    if inventory.ref != incident.workload:
        return Handoff(
            f"the inventory describes {inventory.ref}, not the incident's workload "
            f"{incident.workload}; the planner does not act on mismatched data"
        )
    if incident.lead.workload != incident.workload:
        return Handoff(
            f"the lead hypothesis blames {incident.lead.workload}, not {incident.workload}; "
            "the runbook planner only acts on the incident's own workload"
        )
    return None


# --- rollback -------------------------------------------------------------------------------


def _render_rollback(incident: Incident, inventory: WorkloadInventory) -> Rendered | Handoff:
    """Roll back from the current revision to the one right before the suspected change.

    Only a change event (deploy, config change) names revisions worth rolling back to; any other
    event attached to the hypothesis is ignored and the revision before the current one is used.
    """
    current = inventory.current
    if current is None:
        return Handoff(f"the revision history of {incident.workload} is unknown")
    lead_change = incident.lead.change
    change = lead_change if lead_change is not None and lead_change.is_change else None
    if change is not None and change.workload != incident.workload:
        return Handoff(
            f"the suspected change was made to {change.workload}, not to {incident.workload}; "
            "rolling back the incident's workload would not undo it"
        )
    found = _previous_revision(change, inventory, current)
    if isinstance(found, Handoff):
        return found
    previous, how = found
    if previous.revision >= current.revision:
        return Handoff(
            f"revision {previous.revision} ({how}) is not older than the current revision "
            f"{current.revision}; the change appears to be rolled back already"
        )
    action = RollbackAction(
        target=incident.workload,
        from_revision=current.revision,
        to_revision=previous.revision,
        to_image=previous.image,
    )
    summary = (
        f"Roll back {incident.workload} from revision {current.revision} ({current.image}) "
        f"to revision {previous.revision} ({previous.image}), {how}."
    )
    return Rendered(action, summary)


def _previous_revision(
    change: ClusterEvent | None, inventory: WorkloadInventory, current: Revision
) -> tuple[Revision, str] | Handoff:
    """The revision before the change: named by the event, else inferred from the history."""
    if change is not None and change.previous_revision is not None:
        named = inventory.revision(change.previous_revision)
        if named is None:
            return Handoff(
                f"the change names previous revision {change.previous_revision}, which is not "
                f"in the rollout history ({_history(inventory)})"
            )
        return named, "the revision the suspected change replaced"
    if change is not None and change.revision is not None:
        older = _newest_older(inventory, change.revision)
        if older is None:
            return Handoff(
                f"no revision older than the suspected change's revision {change.revision} is "
                f"in the rollout history ({_history(inventory)})"
            )
        return older, f"the newest revision older than the suspected revision {change.revision}"
    older = _newest_older(inventory, current.revision)
    if older is None:
        return Handoff(
            f"no revision older than the current revision {current.revision} is in the "
            f"rollout history ({_history(inventory)})"
        )
    return older, f"the revision before the current revision {current.revision}"


def _newest_older(inventory: WorkloadInventory, revision: int) -> Revision | None:
    """Newest history entry strictly older than ``revision`` (history is oldest first)."""
    older = [r for r in inventory.revisions if r.revision < revision]
    return older[-1] if older else None


def _history(inventory: WorkloadInventory) -> str:
    """The revision numbers, for messages."""
    numbers = ", ".join(str(r.revision) for r in inventory.revisions)
    return f"revisions {numbers}" if numbers else "empty"


# --- scale ----------------------------------------------------------------------------------


def _render_scale(template: ScaleTemplate, inventory: WorkloadInventory) -> Rendered | Handoff:
    """Scale replicas directly, or through the HPA's bounds when an HPA owns them (R16), or
    through the KEDA ScaledObject's bounds when KEDA owns them (``_keda``)."""
    owner = inventory.scaling_owner
    if owner is ScalingOwner.HPA and inventory.hpa is not None and template.hpa_aware:
        if template.direction == "out":
            return _hpa_out(inventory.ref, inventory.hpa, inventory.replicas.desired, template)
        return _hpa_in(inventory.ref, inventory.hpa, inventory.replicas.desired, template)
    keda = _keda(template, inventory)
    if keda is not None:
        return keda
    if owner is not ScalingOwner.NONE:
        return Handoff(
            f"the replica count of {inventory.ref} is owned by {owner.value}"
            f"{'' if template.hpa_aware else ' and the runbook is not HPA-aware'}; "
            "writing spec.replicas would fight that controller"
        )
    if template.direction == "out":
        return _scale_out(inventory.ref, inventory.replicas.desired, template.factor)
    return _scale_in(inventory.ref, inventory.replicas.desired, template.factor)


def _keda(template: ScaleTemplate, inventory: WorkloadInventory) -> Rendered | Handoff | None:
    """The HPA-style bounds change, written to KEDA's ScaledObject (adapter ``keda``).

    KEDA scales through an HPA it generates and rewrites from the ScaledObject, so the
    inventory shows that HPA (``keda-hpa-<name>``, bounds mirroring minReplicaCount and
    maxReplicaCount). The same arithmetic as for an HPA applies; the action names the
    ScaledObject and the ``keda`` adapter, which the policy must allow
    (``spec.scaling.adapters``) and the writer checks against the live ScaledObject. None:
    not a KEDA workload with a recognisable HPA (the caller hands off as before).
    """
    hpa = inventory.hpa
    if inventory.scaling_owner is not ScalingOwner.KEDA or hpa is None or not template.hpa_aware:
        return None
    scaler = hpa.name.removeprefix(KEDA_HPA_PREFIX)
    if scaler == hpa.name or not scaler:
        return None
    desired = inventory.replicas.desired
    rendered = (
        _hpa_out(inventory.ref, hpa, desired, template)
        if template.direction == "out"
        else _hpa_in(inventory.ref, hpa, desired, template)
    )
    if not isinstance(rendered, Rendered):
        return rendered
    action = rendered.action
    assert isinstance(action, AdjustHpaAction)  # _hpa_out/_hpa_in render bounds only
    adapted = action.model_copy(update={"hpa_name": scaler, "adapter": ScalingAdapter.KEDA})
    summary = (
        f"KEDA ScaledObject {scaler} owns the replicas of {inventory.ref} ({desired} now): "
        f"change its minReplicaCount/maxReplicaCount from {action.from_min}/{action.from_max} "
        f"to {action.to_min}/{action.to_max} (factor {template.factor:g}; adapter keda), "
        "instead of scaling directly or editing KEDA's HPA."
    )
    return Rendered(adapted, summary)


def _ceil(value: float) -> int:
    return math.ceil(round(value, _ROUNDING_DIGITS))


def _floor(value: float) -> int:
    return math.floor(round(value, _ROUNDING_DIGITS))


def scale_out_count(current: int, factor: float) -> int:
    """``ceil(current x factor)``, and always at least one more than ``current``."""
    return max(_ceil(current * factor), current + 1)


def scale_in_count(current: int, factor: float, floor: int) -> int | None:
    """``floor(current x factor)`` raised to ``floor``; None unless at least one fewer."""
    wanted = max(_floor(current * factor), floor, 1)
    return wanted if wanted <= current - 1 else None


def _scale_out(target: WorkloadRef, desired: int, factor: float) -> Rendered:
    """Plain scale out of a workload nobody else scales."""
    to = scale_out_count(desired, factor)
    action = ScaleAction(target=target, from_replicas=desired, to_replicas=to)
    return Rendered(
        action, f"Scale {target} out from {desired} to {to} replicas (factor {factor:g})."
    )


def _scale_in(target: WorkloadRef, desired: int, factor: float) -> Rendered | Handoff:
    """Plain scale in, never below one replica."""
    to = scale_in_count(desired, factor, 1)
    if to is None:
        return Handoff(f"{target} is already at its floor: {desired} replica(s), minimum 1")
    action = ScaleAction(target=target, from_replicas=desired, to_replicas=to)
    return Rendered(
        action, f"Scale {target} in from {desired} to {to} replicas (factor {factor:g})."
    )


def _hpa_out(target: WorkloadRef, hpa: HpaSpec, desired: int, template: ScaleTemplate) -> Rendered:
    """Raise the HPA's bounds instead of writing replicas the HPA would overwrite.

    At its max the HPA cannot add capacity: raise max by the factor and min to the current
    count so nothing is taken away meanwhile. Below its max the HPA is (slowly) reacting
    already: raise min to current + 1 so capacity arrives now, and max by the factor so the
    HPA keeps headroom above the new floor.
    """
    at_max = desired >= hpa.max_replicas
    to_min = max(hpa.min_replicas, desired if at_max else desired + 1)
    to_max = max(scale_out_count(hpa.max_replicas, template.factor), to_min)
    action = AdjustHpaAction(
        target=target,
        hpa_name=hpa.name,
        from_min=hpa.min_replicas,
        from_max=hpa.max_replicas,
        to_min=to_min,
        to_max=to_max,
    )
    state = "at its max" if at_max else "below its max"
    return Rendered(
        action,
        f"HPA {hpa.name} owns the replicas of {target} ({desired} now, {state}): raise its "
        f"bounds from min {hpa.min_replicas}/max {hpa.max_replicas} to min {to_min}/max "
        f"{to_max} (factor {template.factor:g}) instead of scaling directly.",
    )


def _hpa_in(
    target: WorkloadRef, hpa: HpaSpec, desired: int, template: ScaleTemplate
) -> Rendered | Handoff:
    """Lower the HPA's max to the scaled-in count, never below the HPA's own min."""
    to = scale_in_count(desired, template.factor, hpa.min_replicas)
    if to is None:
        return Handoff(
            f"{target} is already at its floor: {desired} replica(s), HPA {hpa.name} min "
            f"{hpa.min_replicas}; lowering the HPA min is a capacity decision for a human"
        )
    if to >= hpa.max_replicas:
        return Handoff(
            f"{target} runs {desired} replicas, above HPA {hpa.name}'s max {hpa.max_replicas}; "
            "the HPA does not appear to be in control"
        )
    action = AdjustHpaAction(
        target=target,
        hpa_name=hpa.name,
        from_min=hpa.min_replicas,
        from_max=hpa.max_replicas,
        to_min=hpa.min_replicas,
        to_max=to,
    )
    return Rendered(
        action,
        f"HPA {hpa.name} owns the replicas of {target} ({desired} now): lower its max from "
        f"{hpa.max_replicas} to {to} (factor {template.factor:g}), keeping min "
        f"{hpa.min_replicas}.",
    )
