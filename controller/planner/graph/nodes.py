"""The graph's nodes: one small async function per stage, each returning a partial update.

Nodes reach the world only through ``runtime.context`` (ports, R2 of STYLE) and write every
decision to the ledger with the plan hash. The two interrupt nodes (``request_approval``,
``wait_bake``) re-run from the top when resumed, so nothing with a side effect comes before
their ``interrupt()`` call; the ledger lines they write come after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from controller.guardrails.engine import denial_is_temporary, evaluate
from controller.models.actions import (
    EscalateAction,
    NoAction,
    Plan,
    idempotency_key,
    inverse,
    is_mutating,
)
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalRequest,
    PolicyDecision,
    Verdict,
    VerificationPhase,
    VerificationResult,
)
from controller.models.facts import TargetFacts
from controller.models.incident import Incident
from controller.models.ledger import EntryType
from controller.models.modes import Mode
from controller.models.proposals import ProposalOutcome, ProposalRequest
from controller.models.signals import Signal, SignalWindow
from controller.models.workloads import WorkloadInventory
from controller.observers.assess import assess_verification
from controller.planner.graph.approval import build_request, judge_reply
from controller.planner.graph.choice import checked_outcome, choose_plan
from controller.planner.graph.context import PlannerContext
from controller.planner.graph.observe import (
    baseline_json,
    baseline_window,
    plan_signals,
    read_facts,
    target_windows,
)
from controller.planner.graph.state import PlannerState, Status, dump, load, need
from controller.planner.runbook.planner import plan_incident

Ctx = Runtime[PlannerContext]
OPEN_LOOP_NOTE = "judged on the recording (open loop)"


def _log(
    ctx: PlannerContext,
    now: datetime,
    kind: EntryType,
    payload: dict[str, Any],
    state: PlannerState,
    plan_hash: str | None = None,
) -> None:
    """One ledger line for this incident."""
    incident_id = str(state["incident"]["id"])
    ctx.ledger.append(now, kind, payload, incident_id=incident_id, plan_hash=plan_hash)


def _facts_for(
    ctx: PlannerContext,
    state: PlannerState,
    plan: Plan,
    windows: Mapping[Signal, SignalWindow],
    now: datetime,
) -> TargetFacts:
    incident = need(state, "incident", Incident)
    return read_facts(
        ctx.reader,
        windows,
        plan.action.target,
        plan_signals(plan, incident),
        mode=Mode(state.get("mode", Mode.NORMAL.value)),
        blind=bool(state.get("blind", False)),
        now=now,
    )


# -- observe and plan ------------------------------------------------------------------------


async def gather_context(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Read the incident's workload (its inventory is what both planners plan against).

    Input facts are read later, by ``guard``, for the signals of the chosen plan.
    """
    ctx = runtime.context
    incident = need(state, "incident", Incident)
    live = ctx.reader.get_workload(incident.workload)
    if live is None:
        return {"status": "escalated", "escalation_reasons": ["workload vanished before planning"]}
    return {"inventory": dump(live.inventory)}


async def propose(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Runbook plan always (shadow, R13); then the proposer, if any, with the runbook plan.

    With a proposer, one PLANNER ledger line keeps both plans, the LLM's cost and any
    fallback reason; the plan that is then chosen is ledgered by ``reconcile``.
    """
    ctx = runtime.context
    incident = need(state, "incident", Incident)
    inventory = need(state, "inventory", WorkloadInventory)
    now = ctx.clock.now()
    runbook_plan = plan_incident(incident, inventory, ctx.runbooks, now)
    if ctx.proposer is None:
        return {"runbook_plan": dump(runbook_plan), "llm_outcome": None}
    request = ProposalRequest(
        incident=incident, inventory=inventory, runbook_plan=runbook_plan, now=now
    )
    # The model call blocks for up to its deadline: off the planner's event loop, so other
    # incidents' graph steps go on meanwhile (controller/planning.py).
    proposed = await asyncio.to_thread(ctx.proposer.propose, request)
    outcome = checked_outcome(proposed, incident.id)
    outcome = outcome.model_copy(update={"exchanges": ()})  # recorded elsewhere; keep it small
    _log(ctx, now, EntryType.PLANNER, planner_payload(runbook_plan, outcome), state)
    return {"runbook_plan": dump(runbook_plan), "llm_outcome": dump(outcome)}


def planner_payload(runbook_plan: Plan, outcome: ProposalOutcome) -> dict[str, Any]:
    """The PLANNER ledger line: what each planner said, and what the LLM cost."""
    payload = outcome.model_dump(mode="json", exclude={"exchanges", "plan"})
    payload["runbook_plan"] = runbook_plan.model_dump(mode="json")
    payload["runbook_plan_hash"] = runbook_plan.plan_hash()
    payload["llm_plan"] = dump(outcome.plan)
    payload["llm_plan_hash"] = None if outcome.plan is None else outcome.plan.plan_hash()
    return payload


async def reconcile(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Choose the plan to guard and ledger it; a disagreement is also an escalation event."""
    ctx = runtime.context
    now = ctx.clock.now()
    runbook_plan = need(state, "runbook_plan", Plan)
    plan, why, detail = choose_plan(runbook_plan, load(state, "llm_outcome", ProposalOutcome))
    _log(ctx, now, EntryType.PROPOSAL, plan.model_dump(mode="json"), state, plan.plan_hash())
    if why == "disagreement":
        payload = {"reason": detail, "disagreement": True}
        _log(ctx, now, EntryType.ESCALATION, payload, state, plan.plan_hash())
    return {"plan": dump(plan), "why": why, "why_detail": detail, "status": "planned"}


# -- decide ----------------------------------------------------------------------------------


def _verdict_status(plan: Plan, decision: PolicyDecision) -> Status:
    if isinstance(plan.action, NoAction):
        return "done"
    if isinstance(plan.action, EscalateAction):
        return "escalated"
    if decision.verdict is Verdict.DENY:
        return "denied"
    return "awaiting_approval" if decision.verdict is Verdict.NEEDS_APPROVAL else "planned"


def _escalation_for(plan: Plan, decision: PolicyDecision, status: Status) -> list[str]:
    if isinstance(plan.action, EscalateAction):
        return [f"planner escalated: {plan.action.reason}"]
    if status == "denied":
        then = "will re-plan later" if denial_is_temporary(decision) else "proposal rejected"
        return [f"policy denied ({', '.join(c.value for c in decision.codes)}); {then}"]
    return []


async def guard(state: PlannerState, runtime: Ctx) -> PlannerState:
    """The policy engine judges the chosen plan (R2); a frozen target goes to a human."""
    ctx = runtime.context
    plan = need(state, "plan", Plan)
    now = ctx.clock.now()
    target = plan.action.target
    frozen = ctx.history.frozen(target) if target and is_mutating(plan.action) else None
    if frozen is not None:
        return {"status": "escalated", "escalation_reasons": [f"target frozen: {frozen}"]}
    windows = target_windows(ctx.metrics, target, now)
    facts = _facts_for(ctx, state, plan, windows, now)
    disagreement = str(state.get("why_detail", "")) if state.get("why") == "disagreement" else None
    decision = evaluate(
        plan,
        ctx.policy,
        facts,
        ctx.history.past_actions(),
        now,
        first_judgement=True,
        disagreement=disagreement,
    )
    payload = {"revalidation": False, "decision": decision.model_dump(mode="json")}
    _log(ctx, now, EntryType.DECISION, payload, state, plan.plan_hash())
    status = _verdict_status(plan, decision)
    update: PlannerState = {"decision": dump(decision), "facts": dump(facts), "status": status}
    update["escalation_reasons"] = _escalation_for(plan, decision, status)
    if status == "awaiting_approval":
        request = build_request(plan, decision, now, ctx.settings.approval_ttl)
        _log(ctx, now, EntryType.APPROVAL_REQUESTED, request.model_dump(mode="json"), state,
             request.plan_hash)  # fmt: skip
        update["approval_request"] = dump(request)
    return update


async def request_approval(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Wait for a human. Re-runs from the top on resume: nothing may come before interrupt()."""
    request = need(state, "approval_request", ApprovalRequest)
    reply = interrupt(request.model_dump(mode="json"))
    ctx = runtime.context
    now = ctx.clock.now()
    approval = judge_reply(reply, request, now, ctx.settings.approvers)
    _log(ctx, now, EntryType.APPROVAL, approval.model_dump(mode="json"), state, request.plan_hash)
    if approval.covers(request):
        return {"approval": dump(approval), "status": "approved"}
    why = f"approval {approval.outcome.value}: nothing done"
    note = f" ({approval.note})" if approval.note else ""
    return {"approval": dump(approval), "status": "escalated", "escalation_reasons": [why + note]}


# -- act -------------------------------------------------------------------------------------


def _revalidate(
    ctx: PlannerContext,
    state: PlannerState,
    plan: Plan,
    decided: PolicyDecision,
    windows: Mapping[Signal, SignalWindow],
    now: datetime,
) -> tuple[PolicyDecision, str | None]:
    """Judge the plan again on fresh facts right before the write (R3, R5, CH-17)."""
    facts = _facts_for(ctx, state, plan, windows, now)
    fresh = evaluate(plan, ctx.policy, facts, ctx.history.past_actions(), now)
    payload = {"revalidation": True, "decision": fresh.model_dump(mode="json")}
    _log(ctx, now, EntryType.DECISION, payload, state, plan.plan_hash())
    if fresh.verdict is Verdict.DENY:
        codes = ", ".join(c.value for c in fresh.codes)
        return fresh, f"state changed since the decision: policy now denies ({codes})"
    if fresh.action != decided.action:
        return fresh, "state changed since the decision: the action would differ"
    if fresh.verdict is Verdict.NEEDS_APPROVAL and load(state, "approval", Approval) is None:
        return fresh, "the action now needs an approval it does not have"
    return fresh, None


def _baseline(plan: Plan, windows: Mapping[Signal, SignalWindow]) -> dict[str, Any] | None:
    """The promised signal as seen at the moment of acting (the verification baseline)."""
    spec = plan.verification
    window = None if spec is None else windows.get(spec.signal)
    if spec is None or window is None:
        return None
    return baseline_json(window, spec.bake.total_seconds())


def _after_act(plan: Plan, result: ActionResult, baseline: Any, now: datetime) -> PlannerState:
    update: PlannerState = {"action_result": dump(result), "baseline": baseline}
    if result.status is ActionStatus.FAILED:
        return update | {"status": "escalated", "escalation_reasons": [
            f"action failed: {result.detail}"]}  # fmt: skip
    if result.status is not ActionStatus.APPLIED or plan.verification is None:
        return update | {"status": "done" if result.status is ActionStatus.DRY_RUN else "acted"}
    if baseline is None:
        why = f"no {plan.verification.signal} data to verify against"
        return update | {"status": "escalated", "escalation_reasons": [why]}
    due = now + plan.verification.bake
    return update | {"status": "awaiting_bake", "bake_due": due.isoformat()}


RECOVERED_NOTE = "applied before a restart: the write had landed, recorded now"


def _recovered(result: ActionResult) -> ActionResult:
    """Our own write found in place after a crash: it counts as applied (one ledger entry
    per effect, cooldowns and rate caps see it, and it is verified like any other)."""
    detail = f"{RECOVERED_NOTE} ({result.detail})" if result.detail else RECOVERED_NOTE
    return result.model_copy(update={"status": ActionStatus.APPLIED, "detail": detail})


async def act(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Re-validate, then execute exactly once per (incident, plan hash, step) (R17, I5)."""
    ctx = runtime.context
    plan, decided = need(state, "plan", Plan), need(state, "decision", PolicyDecision)
    now, plan_hash = ctx.clock.now(), plan.plan_hash()
    key = idempotency_key(str(state["incident"]["id"]), plan_hash)
    done = ctx.history.result(key)
    if done is not None:  # finished before a crash: report it, never re-apply
        return _after_act(plan, done, state.get("baseline"), done.at)
    action = decided.action
    windows = target_windows(ctx.metrics, plan.action.target, now)  # one read: facts, baseline
    recovering = ctx.history.started(key)  # begun, never finished: the process died here
    if recovering:  # skip to the reconciling executor, with the baseline seen before
        baseline = ctx.history.intent(key) or _baseline(plan, windows)
    else:
        fresh, refusal = _revalidate(ctx, state, plan, decided, windows, now)
        if refusal is not None:
            return {"status": "escalated", "escalation_reasons": [refusal]}
        action, baseline = fresh.action, _baseline(plan, windows)
        ctx.history.start(key, baseline)
    result = ctx.executor.execute(action, plan_hash=plan_hash, key=key,
                                  dry_run=decided.dry_run, now=now)  # fmt: skip
    if recovering and result.status is ActionStatus.ALREADY_DONE:
        result = _recovered(result)
    ctx.history.finish(result)
    _log(ctx, now, EntryType.ACTION, result.model_dump(mode="json"), state, plan_hash)
    return _after_act(plan, result, baseline, now)


# -- verify ----------------------------------------------------------------------------------


async def wait_bake(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Pause until the driver resumes after the bake window (nothing before interrupt())."""
    interrupt(
        {"kind": "bake", "due": state.get("bake_due"), "incident_id": state["incident"]["id"]}
    )
    return {}


async def verify(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Compare the promised signal now with the baseline taken when acting (R11)."""
    ctx = runtime.context
    plan, result = need(state, "plan", Plan), need(state, "action_result", ActionResult)
    spec, target, baseline = plan.verification, result.action.target, state.get("baseline")
    if spec is None or target is None or baseline is None:
        raise RuntimeError("verify reached without a verification spec, target or baseline")
    now = ctx.clock.now()
    after = target_windows(ctx.metrics, target, now).get(spec.signal)
    found = assess_verification(spec, baseline_window(baseline), after)
    open_loop = ctx.settings.open_loop
    verification = VerificationResult(
        plan_hash=result.plan_hash, signal=spec.signal, phase=found.phase,
        baseline=found.baseline, observed=found.observed,
        relative_change=found.relative_change, at=now,
        detail=f"{found.detail}; {OPEN_LOOP_NOTE}" if open_loop else found.detail,
    )  # fmt: skip
    payload = verification.model_dump(mode="json")
    _log(ctx, now, EntryType.VERIFICATION, payload, state, result.plan_hash)
    # Open loop (replay): the recording cannot show our action's effect, so never revert on it.
    return {"verification": dump(verification), "status": "done" if open_loop else "verified"}


def _revert(
    ctx: PlannerContext, state: PlannerState, result: ActionResult, now: datetime
) -> ActionResult | None:
    """Undo our own change (pre-approved: it restores the prior state, CH-14), once."""
    undo = inverse(result.action)
    if undo is None:
        return None
    key = idempotency_key(str(state["incident"]["id"]), result.plan_hash, step=1)
    done = ctx.history.result(key)
    if done is not None:
        return done
    ctx.history.start(key)
    revert = ctx.executor.execute(undo, plan_hash=result.plan_hash, key=key, dry_run=False,
                                  now=now, revert_of=result.plan_hash)  # fmt: skip
    ctx.history.finish(revert)
    _log(ctx, now, EntryType.ACTION, revert.model_dump(mode="json"), state, result.plan_hash)
    return revert


async def revert_and_escalate(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Worse -> revert when an inverse exists; always freeze the target and page a human."""
    ctx = runtime.context
    result = need(state, "action_result", ActionResult)
    verification = need(state, "verification", VerificationResult)
    target = result.action.target
    if target is None:
        raise RuntimeError("revert_and_escalate reached for an action without a target")
    now = ctx.clock.now()
    reason = f"verification {verification.phase.value}; no further automatic action on {target}"
    revert = None
    if verification.phase is VerificationPhase.WORSE:
        revert = _revert(ctx, state, result, now)
    if revert is not None:
        reason = f"made things worse: reverted ({revert.status.value}); {reason}"
    ctx.history.freeze(target, reason)
    payload = {"reason": reason, "freeze": target.key}
    _log(ctx, now, EntryType.ESCALATION, payload, state, result.plan_hash)
    status: Status = "reverted" if revert is not None else "escalated"
    return {"revert_result": dump(revert), "status": status}


# -- ends ------------------------------------------------------------------------------------


async def escalate(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Hand the incident to a human with every reason collected on the way."""
    ctx = runtime.context
    reasons = state.get("escalation_reasons", [])
    plan = load(state, "plan", Plan)
    payload = {"reason": "; ".join(reasons) or "escalated", "status": state.get("status")}
    _log(ctx, ctx.clock.now(), EntryType.ESCALATION, payload, state,
         None if plan is None else plan.plan_hash())  # fmt: skip
    return {"status": "denied" if state.get("status") == "denied" else "escalated"}


async def finish(state: PlannerState, runtime: Ctx) -> PlannerState:
    """Automation is done with this incident."""
    return {"status": "done"}
