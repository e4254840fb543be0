"""The policy engine: a pure, deterministic, deny-by-default judgement of one plan (R1-R4, R8).

``evaluate`` takes everything as arguments (the plan, the loaded policy, the facts about the
target, the action history and ``now``) and returns a PolicyDecision; it reads no clock, file,
network or environment, and nothing an LLM writes can change how it decides (R2). Every rule
runs and every applicable reason is listed, so a denial explains itself completely:

1. scope: protected, denied and not-opted-in namespaces; kinds outside ``actions.allowed``;
2. target: it must exist and be the one the facts describe;
3. shape: who owns the replicas (R16), HPA preconditions, magnitude clamps, rollback depth;
4. inputs: blind observers, stale or missing data (I3); the controller's mode: FROZEN (the
   fleet-anomaly guard fired, R7) and BLIND (metrics or Kubernetes not ok, R6) deny every
   mutating action until the mode recovers;
5. velocity: per-target cooldown, global and per-namespace rate caps (R8, I4);
6. calendar: freeze windows.

Nothing denied -> approval rules (DEGRADED mode adds one for every mutating action, CH-08) ->
NEEDS_APPROVAL or ALLOW. In dry_run mode the verdict is the same but the decision is marked
``dry_run`` and carries a DRY_RUN reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from controller.guardrails.adapter_rules import adapter_denial
from controller.guardrails.codes import (
    APPROVAL_CODES,
    CLAMP_CODES,
    DENIAL_CODES,
    TEMPORARY_DENIALS,
)
from controller.guardrails.context_rules import disagreement_rule, plan_age_rule
from controller.guardrails.limits import clamp_count
from controller.guardrails.loader import LoadedPolicy
from controller.guardrails.policy import Policy, PolicyMode, PolicySpec
from controller.guardrails.windows import open_windows
from controller.models.actions import (
    MUTATING_KINDS,
    Action,
    ActionKind,
    AdjustHpaAction,
    EscalateAction,
    NoAction,
    PauseRolloutAction,
    Plan,
    RestartAction,
    RollbackAction,
    ScaleAction,
)
from controller.models.base import format_duration
from controller.models.decisions import PolicyDecision, Reason, ReasonCode, Verdict
from controller.models.facts import PastAction, TargetFacts
from controller.models.modes import Mode
from controller.models.workloads import ScalingOwner, WorkloadInventory, WorkloadRef

__all__ = ["APPROVAL_CODES", "CLAMP_CODES", "DENIAL_CODES", "denial_is_temporary", "evaluate"]

MutatingAction = ScaleAction | RollbackAction | RestartAction | PauseRolloutAction | AdjustHpaAction


def denial_is_temporary(decision: PolicyDecision) -> bool:
    """Whether every denial reason of ``decision`` may lift by itself (False if not denied)."""
    denials = set(decision.codes) & DENIAL_CODES
    return bool(denials) and denials <= TEMPORARY_DENIALS


def evaluate(
    plan: Plan,
    policy: LoadedPolicy,
    facts: TargetFacts,
    history: Sequence[PastAction],
    now: datetime,
    *,
    first_judgement: bool = False,
    disagreement: str | None = None,
) -> PolicyDecision:
    """Judge ``plan`` under ``policy`` at ``now``; never raises for any valid models.

    The one place a verdict is made. ``first_judgement``: the guard node's first look at a
    new plan, where the plan-age rule applies (not the re-check right before the write, when
    a human's minutes have always aged the snapshot). ``disagreement``: why the LLM and
    runbook plans differ, which makes a human approve (CH-06). Both only add friction.

    Raises:
        ValueError: ``now`` has no timezone (a programming error, not a policy outcome).
    """
    decision = _judge(plan, policy, facts, history, now)
    if isinstance(plan.action, NoAction | EscalateAction):
        return decision
    if first_judgement:
        decision = plan_age_rule(decision, plan, policy, now)
    if disagreement is not None:
        decision = disagreement_rule(decision, disagreement)
    return decision


def _judge(
    plan: Plan,
    policy: LoadedPolicy,
    facts: TargetFacts,
    history: Sequence[PastAction],
    now: datetime,
) -> PolicyDecision:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    action = plan.action
    if isinstance(action, NoAction | EscalateAction):
        reason = _reason(ReasonCode.NOT_MUTATING, f"{action.kind} changes nothing in the cluster")
        return _decision(plan, policy, now, [reason], action, Verdict.ALLOW)
    spec = policy.policy.spec
    reasons = _scope(action, policy.policy, facts)
    shaped, shape_reasons = _shape(action, spec, facts)
    reasons += shape_reasons
    reasons += _inputs(facts, spec)
    reasons += _mode_denial(facts)
    reasons += _rollout_denial(action, facts)
    reasons += _velocity(action.target, spec, history, now)
    reasons += [
        _reason(ReasonCode.CHANGE_FREEZE, d) for d in open_windows(spec.freeze_windows, now)
    ]
    if any(r.code in DENIAL_CODES for r in reasons):
        return _decision(plan, policy, now, reasons, shaped, Verdict.DENY)
    approvals = _approvals(plan, spec) + _rollout_approval(action, facts) + _mode_approval(facts)
    if approvals:
        return _decision(plan, policy, now, reasons + approvals, shaped, Verdict.NEEDS_APPROVAL)
    clamped = " as clamped" if shaped != action else ""
    allowed = _reason(ReasonCode.ALLOWED, f"every rule of the policy allows this action{clamped}")
    return _decision(plan, policy, now, [*reasons, allowed], shaped, Verdict.ALLOW)


def _decision(
    plan: Plan,
    policy: LoadedPolicy,
    now: datetime,
    reasons: list[Reason],
    action: Action,
    verdict: Verdict,
) -> PolicyDecision:
    """Assemble the decision; dry_run marks it without changing the verdict."""
    dry_run = policy.policy.spec.mode is PolicyMode.DRY_RUN
    if dry_run:
        reasons = [*reasons, _reason(ReasonCode.DRY_RUN, "dry_run mode: nothing will be changed")]
    return PolicyDecision(
        plan_hash=plan.plan_hash(),
        verdict=verdict,
        reasons=tuple(reasons),
        action=action,
        clamped=action != plan.action,
        dry_run=dry_run,
        policy_name=policy.name,
        policy_hash=policy.hash,
        evaluated_at=now,
    )


def _reason(code: ReasonCode, detail: str) -> Reason:
    return Reason(code=code, detail=detail)


# -- 1. scope -----------------------------------------------------------------------------


def _scope(action: MutatingAction, policy: Policy, facts: TargetFacts) -> list[Reason]:
    """Namespace and kind allow-lists: deny by default, deny wins, protected always wins."""
    namespace = action.target.namespace
    rules = policy.spec.namespaces
    reasons: list[Reason] = []
    if namespace in policy.protected_namespaces:
        detail = f"{namespace} is always protected (system or controller namespace)"
        reasons.append(_reason(ReasonCode.NAMESPACE_PROTECTED, detail))
    if namespace in rules.deny:
        reasons.append(_reason(ReasonCode.NAMESPACE_DENIED, f"{namespace} is in namespaces.deny"))
    if not _opted_in(namespace, policy, facts):
        detail = f"{namespace} is not opted in (not in namespaces.allow, labels do not match)"
        reasons.append(_reason(ReasonCode.NAMESPACE_NOT_ALLOWED, detail))
    if ActionKind(action.kind) not in policy.spec.actions.allowed:
        detail = f"{action.kind} is not in actions.allowed"
        reasons.append(_reason(ReasonCode.KIND_NOT_ALLOWED, detail))
    return reasons


def _opted_in(namespace: str, policy: Policy, facts: TargetFacts) -> bool:
    """By name, or by labels; an empty allowLabels opts in nothing (never "all")."""
    rules = policy.spec.namespaces
    if namespace in rules.allow:
        return True
    info = facts.namespace
    if not rules.allow_labels or info is None or info.name != namespace:
        return False
    return all(info.labels.get(key) == value for key, value in rules.allow_labels.items())


# -- 2./3. target and shape ---------------------------------------------------------------


def _shape(
    action: MutatingAction, spec: PolicySpec, facts: TargetFacts
) -> tuple[Action, list[Reason]]:
    """Check the target and the action's preconditions; return the possibly clamped action."""
    inventory = facts.inventory
    if facts.target != action.target or inventory is None or inventory.ref != action.target:
        detail = f"{action.target} is not a known workload (or the facts describe another one)"
        return action, [_reason(ReasonCode.TARGET_UNKNOWN, detail)]
    if isinstance(action, ScaleAction):
        return _shape_scale(action, spec, inventory)
    if isinstance(action, AdjustHpaAction):
        return _shape_hpa(action, spec, inventory)
    if isinstance(action, RollbackAction):
        return action, _check_rollback(action, spec, inventory)
    return action, []


def _shape_scale(
    action: ScaleAction, spec: PolicySpec, inventory: WorkloadInventory
) -> tuple[Action, list[Reason]]:
    """Replicas of a workload nobody else scales (or, through an adapter the policy names,
    of its Argo Rollout: ``adapter_rules``), clamped into the policy's bounds."""
    if action.adapter is not None:
        denial = adapter_denial(action, spec, inventory)
        if denial is not None:
            return action, [denial]
        return _clamped_scale(action, spec, action.from_replicas)
    if inventory.scaling_owner is not ScalingOwner.NONE:
        detail = (
            f"replicas of {action.target} are owned by {inventory.scaling_owner}: "
            "change the owner (for an HPA: adjust_hpa), not spec.replicas (R16)"
        )
        return action, [_reason(ReasonCode.SCALING_OWNED_ELSEWHERE, detail)]
    live = inventory.replicas.desired
    if action.from_replicas != live:
        detail = f"plan scales from {action.from_replicas} replicas but {live} are live: re-plan"
        return action, [_reason(ReasonCode.PLAN_STALE, detail)]
    return _clamped_scale(action, spec, live)


def _clamped_scale(action: ScaleAction, spec: PolicySpec, live: int) -> tuple[Action, list[Reason]]:
    """``action`` from ``live`` replicas, its target clamped (R4); the adapter is kept."""
    clamped = clamp_count(action.to_replicas, live, spec.replicas, "replicas")
    reasons = list(clamped.reasons)
    if clamped.value == live or action.to_replicas == live:
        reasons.append(_reason(ReasonCode.NO_CHANGE, f"replicas stay at {live}"))
    shaped = ScaleAction(
        target=action.target, from_replicas=live, to_replicas=clamped.value, adapter=action.adapter
    )
    return shaped, reasons


def _shape_hpa(
    action: AdjustHpaAction, spec: PolicySpec, inventory: WorkloadInventory
) -> tuple[Action, list[Reason]]:
    """HPA bounds: preconditions must match the live HPA; both bounds are step-capped.

    Through an adapter (a KEDA ScaledObject, the HPA of an Argo Rollout) the policy must
    name it (``adapter_rules``); the facts do not hold that object, so the writer checks the
    ``from_*`` bounds against it live, and the caps apply from them."""
    denial = adapter_denial(action, spec, inventory)
    if denial is not None:
        return action, [denial]
    mismatch = _hpa_mismatch(action, inventory) if action.adapter is None else None
    if mismatch is not None:
        return action, [mismatch]
    to_max = clamp_count(action.to_max, action.from_max, spec.replicas, "HPA max")
    to_min = clamp_count(action.to_min, action.from_min, spec.replicas, "HPA min")
    reasons = [*to_max.reasons, *to_min.reasons]
    # Clamping is monotone in the request and in the current value, so from_min <= from_max
    # and to_min <= to_max guarantee the clamped min <= the clamped max (property-tested).
    low = to_min.value
    unchanged = (action.from_min, action.from_max)
    if (low, to_max.value) == unchanged or (action.to_min, action.to_max) == unchanged:
        reasons.append(_reason(ReasonCode.NO_CHANGE, f"HPA bounds stay at {unchanged}"))
    shaped = AdjustHpaAction(
        target=action.target,
        hpa_name=action.hpa_name,
        from_min=action.from_min,
        from_max=action.from_max,
        to_min=low,
        to_max=to_max.value,
        adapter=action.adapter,
    )
    return shaped, reasons


def _hpa_mismatch(action: AdjustHpaAction, inventory: WorkloadInventory) -> Reason | None:
    """The plan's HPA and bounds must be the live HPA's (HPA_MISMATCH otherwise)."""
    hpa = inventory.hpa
    expected = (action.hpa_name, action.from_min, action.from_max)
    if hpa is not None and (hpa.name, hpa.min_replicas, hpa.max_replicas) == expected:
        return None
    live = "none" if hpa is None else f"{hpa.name} min {hpa.min_replicas} max {hpa.max_replicas}"
    detail = (
        f"plan expects HPA {action.hpa_name} min {action.from_min} max {action.from_max}; "
        f"live: {live}"
    )
    return _reason(ReasonCode.HPA_MISMATCH, detail)


def _check_rollback(
    action: RollbackAction, spec: PolicySpec, inventory: WorkloadInventory
) -> list[Reason]:
    """Only to a revision in the workload's own history, at most maxDepth entries back."""
    numbers = [revision.revision for revision in inventory.revisions]
    current = inventory.current
    reasons: list[Reason] = []
    if action.to_revision not in numbers:
        detail = f"revision {action.to_revision} is not in the history {numbers} of {action.target}"
        reasons.append(_reason(ReasonCode.ROLLBACK_TARGET_UNKNOWN, detail))
    if current is not None and action.from_revision != current.revision:
        detail = (
            f"plan rolls back from revision {action.from_revision} but {current.revision} is live"
        )
        reasons.append(_reason(ReasonCode.PLAN_STALE, detail))
    if reasons or current is None:
        return reasons
    depth = numbers.index(current.revision) - numbers.index(action.to_revision)
    if depth > spec.rollback.max_depth:
        detail = (
            f"revision {action.to_revision} is {depth} revisions behind {current.revision}; "
            f"at most {spec.rollback.max_depth}"
        )
        reasons.append(_reason(ReasonCode.ROLLBACK_TOO_DEEP, detail))
    return reasons


# -- 4. inputs ----------------------------------------------------------------------------


def _inputs(facts: TargetFacts, spec: PolicySpec) -> list[Reason]:
    """Static stability (R6) and freshness (I3): no action on blind or stale inputs."""
    reasons: list[Reason] = []
    if facts.blind:
        detail = "an observer or the cache is blind: no risky action (R6)"
        reasons.append(_reason(ReasonCode.INPUTS_BLIND, detail))
    limit = spec.freshness_max.total_seconds()
    stale = [
        _staleness(signal, age)
        for signal, age in sorted(facts.input_ages.items())
        if age is None or not math.isfinite(age) or age < 0 or age > limit
    ]
    if stale:
        detail = "; ".join(stale) + f" (freshnessMax {format_duration(spec.freshness_max)})"
        reasons.append(_reason(ReasonCode.INPUTS_STALE, detail))
    return reasons


def _mode_denial(facts: TargetFacts) -> list[Reason]:
    """FROZEN and BLIND take no mutating action at all; both lift when the mode recovers."""
    if facts.mode is Mode.FROZEN:
        detail = (
            "frozen: the fleet-anomaly guard suspects the sensor (R7) or the kill switch is "
            "engaged (R14); no automated action until the mode recovers (temporary)"
        )
        return [_reason(ReasonCode.MODE_FROZEN, detail)]
    if facts.mode is Mode.BLIND:
        detail = (
            "blind: metrics or the Kubernetes cache are not ok (R6); no automated action "
            "until fresh data has been seen for a full recovery window (temporary)"
        )
        return [_reason(ReasonCode.MODE_BLIND, detail)]
    return []


def _mode_approval(facts: TargetFacts) -> list[Reason]:
    """DEGRADED (traces missing or stale): every mutating action needs a human (CH-08)."""
    if facts.mode is not Mode.DEGRADED:
        return []
    detail = "degraded: traces are stale or missing, so a human approves every action (CH-08)"
    return [_reason(ReasonCode.APPROVAL_REQUIRED_DEGRADED, detail)]


def _staleness(signal: str, age: float | None) -> str:
    """Name the signal and say what is wrong with its age, for the reason detail."""
    if age is None:
        return f"{signal}: no data"
    if not math.isfinite(age) or age < 0:
        return f"{signal}: invalid age {age}"
    return f"{signal}: newest sample is {age:.0f}s old"


# -- 5. velocity --------------------------------------------------------------------------


def _velocity(
    target: WorkloadRef, spec: PolicySpec, history: Sequence[PastAction], now: datetime
) -> list[Reason]:
    """Cooldown per target and rate caps; windows are half-open: an action exactly
    ``cooldown`` (or ``per``) ago no longer counts. Future entries (clock skew) do count."""
    past = [p for p in history if p.kind in MUTATING_KINDS]
    reasons: list[Reason] = []
    recent = [p for p in past if p.target == target and _within(p, now, spec.cooldown)]
    if recent:
        last = max(recent, key=lambda p: p.at)
        detail = (
            f"{last.kind} on {target} at {last.at.isoformat()}; cooldown "
            f"{format_duration(spec.cooldown)} ends at {_plus(last.at, spec.cooldown)}"
        )
        reasons.append(_reason(ReasonCode.COOLDOWN_ACTIVE, detail))
    caps = spec.rate_limits
    count = sum(1 for p in past if _within(p, now, caps.global_.per))
    if count >= caps.global_.actions:
        detail = f"{count} actions in the last {format_duration(caps.global_.per)}"
        reasons.append(
            _reason(ReasonCode.GLOBAL_RATE_CAP, f"{detail} (cap {caps.global_.actions})")
        )
    local = caps.per_namespace
    count = sum(
        1 for p in past if p.target.namespace == target.namespace and _within(p, now, local.per)
    )
    if count >= local.actions:
        detail = f"{count} actions in {target.namespace} in the last {format_duration(local.per)}"
        reasons.append(_reason(ReasonCode.NAMESPACE_RATE_CAP, f"{detail} (cap {local.actions})"))
    return reasons


def _within(past: PastAction, now: datetime, window: timedelta) -> bool:
    """Half-open window: exactly ``window`` ago is outside; future entries are inside."""
    return now - past.at < window


def _plus(moment: datetime, delta: timedelta) -> str:
    """A time for a detail; a history entry near year 9999 must not crash the engine."""
    try:
        return (moment + delta).isoformat()
    except OverflowError:
        return "the end of time"


# -- approval -----------------------------------------------------------------------------


def _approvals(plan: Plan, spec: PolicySpec) -> list[Reason]:
    """Which approval rules apply to a plan that nothing denied (R3)."""
    rules = spec.approval
    action = plan.action
    reasons: list[Reason] = []
    if ActionKind(action.kind) in rules.kinds:
        detail = f"{action.kind} always needs approval"
        reasons.append(_reason(ReasonCode.APPROVAL_REQUIRED_KIND, detail))
    if rules.min_risk is not None and plan.risk.rank >= rules.min_risk.rank:
        detail = f"risk {plan.risk} is at or above {rules.min_risk}"
        reasons.append(_reason(ReasonCode.APPROVAL_REQUIRED_RISK, detail))
    if action.target is not None and action.target.namespace in rules.namespaces:
        detail = f"every action in {action.target.namespace} needs approval"
        reasons.append(_reason(ReasonCode.APPROVAL_REQUIRED_NAMESPACE, detail))
    return reasons


# -- rollouts in flight (R16, CH-23) --------------------------------------------------------

ROLLOUT_ABORTS = (RollbackAction, PauseRolloutAction)
"""Kinds that stop an in-flight rollout; everything else would fight it."""


def _rollout_denial(action: MutatingAction, facts: TargetFacts) -> list[Reason]:
    """Scaling or restarting a workload mid-rollout fights the deploy: never automatic."""
    if not facts.rollout_in_progress or isinstance(action, ROLLOUT_ABORTS):
        return []
    detail = (
        f"a rollout of {action.target} is in flight: {action.kind} would fight it; "
        "notify the deploy owner (R16)"
    )
    return [_reason(ReasonCode.ROLLOUT_IN_PROGRESS, detail)]


def _rollout_approval(action: MutatingAction, facts: TargetFacts) -> list[Reason]:
    """Aborting an in-flight rollout (rollback, pause) always needs a human (CH-23)."""
    if not facts.rollout_in_progress or not isinstance(action, ROLLOUT_ABORTS):
        return []
    detail = f"{action.kind} aborts the rollout of {action.target} in flight: a human decides"
    return [_reason(ReasonCode.APPROVAL_REQUIRED_ROLLOUT, detail)]
