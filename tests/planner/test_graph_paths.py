"""Graph paths end to end with InMemorySaver: the real policy, runbooks, actuator and
simulated cluster; only the LLM is a scripted fake of its port."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from controller.models.actions import Plan, ScaleAction
from controller.models.decisions import (
    ActionStatus,
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
    ReasonCode,
)
from controller.models.ledger import EntryType
from controller.models.proposals import FallbackReason, ProposalOutcome, ProposalRequest
from controller.planner.graph.build import build_graph
from controller.planner.graph.runner import PlannerRunner, Waiting
from tests.factories import T0, WEB
from tests.planner.harness import (
    BAKE,
    ScriptedProposer,
    World,
    approval_policy,
    fallback,
    llm_plan,
    make_world,
    saturation_incident,
)

SCALE_UP = ScaleAction(target=WEB, from_replicas=4, to_replicas=6)


def runner(world: World) -> PlannerRunner:
    return PlannerRunner(build_graph(InMemorySaver()), world.context())


def answer(request: ApprovalRequest, outcome: ApprovalOutcome, **changes: object) -> Approval:
    approval = Approval(
        plan_hash=request.plan_hash,
        snapshot_at=request.snapshot_at,
        outcome=outcome,
        approver="slack:alice",
        decided_at=request.requested_at + timedelta(minutes=1),
    )
    return approval.model_copy(update=changes)


async def start_and_bake(world: World, run: PlannerRunner) -> Waiting:
    waiting = await run.start(saturation_incident())
    assert waiting.kind == "bake" and waiting.due == T0 + BAKE
    world.clock.set(T0 + BAKE)
    return await run.resume_bake("shop.web.1")


def test_allow_act_bake_verify_improved_done() -> None:
    world = make_world(after=0.6)
    run = runner(world)
    done = asyncio.run(start_and_bake(world, run))
    assert (done.kind, done.status) == ("done", "done")
    assert world.writes() == [SCALE_UP]
    (verification,) = world.entries(EntryType.VERIFICATION)
    assert verification.payload["phase"] == "improved"
    assert not world.entries(EntryType.ESCALATION)
    plan_hashes = {e.plan_hash for e in world.ledger.entries}
    assert len(plan_hashes) == 1 and None not in plan_hashes  # every line names the plan


def test_bake_resumed_early_does_nothing() -> None:
    world = make_world()
    run = runner(world)

    async def scenario() -> Waiting:
        await run.start(saturation_incident())
        world.clock.set(T0 + BAKE - timedelta(seconds=1))
        return await run.resume_bake("shop.web.1")

    assert asyncio.run(scenario()).kind == "bake"
    assert not world.entries(EntryType.VERIFICATION)


def test_deny_escalates_without_acting() -> None:
    world = make_world(opted_in=False)
    waiting = asyncio.run(runner(world).start(saturation_incident()))
    assert (waiting.kind, waiting.status) == ("done", "denied")
    assert world.writes() == []
    (escalation,) = world.entries(EntryType.ESCALATION)
    assert "namespace_not_allowed" in escalation.payload["reason"]


async def to_approval(world: World, run: PlannerRunner) -> ApprovalRequest:
    waiting = await run.start(saturation_incident())
    assert (waiting.kind, waiting.status) == ("approval", "awaiting_approval")
    assert waiting.request is not None
    return waiting.request


def test_needs_approval_interrupts_then_approve_acts() -> None:
    world = make_world(policy=approval_policy())
    run = runner(world)

    async def scenario() -> Waiting:
        request = await to_approval(world, run)
        assert world.writes() == []  # nothing before the human
        assert ReasonCode.APPROVAL_REQUIRED_KIND in {r.code for r in request.reasons}
        return await run.resume_approval("shop.web.1", answer(request, ApprovalOutcome.APPROVED))

    assert asyncio.run(scenario()).kind == "bake"
    assert world.writes() == [SCALE_UP]
    (approval,) = world.entries(EntryType.APPROVAL)
    assert approval.payload["outcome"] == "approved"


def _no_act_after(world: World, reply: object, *, at: timedelta = timedelta(minutes=1)) -> str:
    run = runner(world)

    async def scenario() -> Waiting:
        request = await to_approval(world, run)
        world.clock.set(T0 + at)
        made = reply(request) if callable(reply) else reply
        return await run.resume_approval("shop.web.1", made)  # type: ignore[arg-type]

    waiting = asyncio.run(scenario())
    assert (waiting.kind, waiting.status) == ("done", "escalated")
    assert world.writes() == []
    (approval,) = world.entries(EntryType.APPROVAL)
    return str(approval.payload["outcome"])


def test_rejected_approval_does_not_act() -> None:
    world = make_world(policy=approval_policy())
    assert _no_act_after(world, lambda r: answer(r, ApprovalOutcome.REJECTED)) == "rejected"


def test_approval_resumed_after_ttl_is_expired() -> None:
    world = make_world(policy=approval_policy())
    late = timedelta(minutes=16)  # the human clicked in time, the resume came too late
    assert _no_act_after(world, lambda r: answer(r, ApprovalOutcome.APPROVED), at=late) == "expired"


def test_approval_for_another_plan_hash_is_a_rejection() -> None:
    world = make_world(policy=approval_policy())
    other = lambda r: answer(r, ApprovalOutcome.APPROVED, plan_hash="f" * 64)  # noqa: E731
    assert _no_act_after(world, other) == "rejected"


def test_unreadable_reply_is_a_rejection() -> None:
    world = make_world(policy=approval_policy())
    assert _no_act_after(world, {"outcome": "approved"}) == "rejected"


def test_expire_rejects_only_after_the_ttl() -> None:
    world = make_world(policy=approval_policy())
    run = runner(world)

    async def scenario() -> tuple[Waiting, Waiting]:
        await to_approval(world, run)
        world.clock.set(T0 + timedelta(minutes=15))
        early = await run.expire("shop.web.1")
        world.clock.set(T0 + timedelta(minutes=15, seconds=1))
        return early, await run.expire("shop.web.1")

    early, late = asyncio.run(scenario())
    assert early.kind == "approval"
    assert (late.kind, late.status) == ("done", "escalated")
    assert world.writes() == []
    assert [e.payload["outcome"] for e in world.entries(EntryType.APPROVAL)] == ["expired"]


def test_llm_fallback_chooses_runbook_plan_and_ledgers_the_reason() -> None:
    proposer = ScriptedProposer([fallback(FallbackReason.RATE_LIMITED)])
    world = make_world(proposer=proposer)
    asyncio.run(runner(world).start(saturation_incident()))
    assert len(proposer.requests) == 1
    assert proposer.requests[0].runbook_plan.action == SCALE_UP  # the shadow plan is shared
    assert world.writes() == [SCALE_UP]
    (planner,) = world.entries(EntryType.PLANNER)
    assert planner.payload["fallback"] == "rate_limited" and planner.payload["llm_plan"] is None
    assert planner.payload["runbook_plan"]["action"] == SCALE_UP.model_dump(mode="json")
    (proposal,) = world.entries(EntryType.PROPOSAL)  # the chosen plan: the runbook's
    assert proposal.payload["runbook_id"] == "saturation-scale-out"


def _runbook_plan() -> Plan:
    from controller.planner.runbook.planner import plan_incident
    from tests.factories import inventory
    from tests.planner.harness import RUNBOOKS

    return plan_incident(saturation_incident(), inventory(replicas=4), RUNBOOKS, T0)


def test_agreeing_llm_plan_runs_without_a_human() -> None:
    plan = llm_plan(_runbook_plan(), 6)
    world = make_world(proposer=ScriptedProposer([ProposalOutcome(plan=plan)]))
    waiting = asyncio.run(runner(world).start(saturation_incident()))
    assert waiting.kind == "bake"
    assert world.writes() == [SCALE_UP]


def test_disagreement_requires_a_human_and_is_an_escalation_event() -> None:
    plan = llm_plan(_runbook_plan(), 8)
    world = make_world(proposer=ScriptedProposer([ProposalOutcome(plan=plan)]))
    waiting = asyncio.run(runner(world).start(saturation_incident()))
    assert waiting.kind == "approval" and waiting.request is not None
    assert waiting.request.plan_hash == plan.plan_hash()
    codes = {r.code for r in waiting.request.reasons}
    assert ReasonCode.APPROVAL_REQUIRED_DISAGREEMENT in codes
    assert ReasonCode.ALLOWED not in codes
    assert world.writes() == []
    (event,) = world.entries(EntryType.ESCALATION)
    assert event.payload["disagreement"] is True


def test_llm_plan_for_another_incident_falls_back() -> None:
    plan = llm_plan(_runbook_plan(), 6).model_copy(update={"incident_id": "other"})
    world = make_world(proposer=ScriptedProposer([ProposalOutcome(plan=plan)]))
    asyncio.run(runner(world).start(saturation_incident()))
    (planner,) = world.entries(EntryType.PLANNER)
    assert planner.payload["fallback"] == "out_of_scope"
    assert world.entries(EntryType.PROPOSAL)[-1].payload["planner"] == "runbook"


def test_verify_worse_reverts_freezes_and_escalates() -> None:
    world = make_world(after=1.5)
    run = runner(world)
    done = asyncio.run(start_and_bake(world, run))
    assert (done.kind, done.status) == ("done", "reverted")
    assert world.writes() == [SCALE_UP, ScaleAction(target=WEB, from_replicas=6, to_replicas=4)]
    revert = world.entries(EntryType.ACTION)[-1]
    assert revert.payload["revert_of"] == revert.plan_hash
    (escalation,) = world.entries(EntryType.ESCALATION)
    assert "made things worse: reverted (applied)" in escalation.payload["reason"]
    assert world.history.frozen(WEB) is not None
    # A new incident on the frozen target escalates; nothing is written (CH-14).
    again = asyncio.run(run.start(saturation_incident("shop.web.2")))
    assert again.status == "escalated" and len(world.writes()) == 2


def test_not_improved_escalates_without_revert_or_bigger_action() -> None:
    world = make_world(after=1.15)
    done = asyncio.run(start_and_bake(world, runner(world)))
    assert (done.kind, done.status) == ("done", "escalated")
    assert world.writes() == [SCALE_UP]


def test_start_twice_is_single_flight() -> None:
    world = make_world(policy=approval_policy())
    run = runner(world)

    async def scenario() -> Waiting:
        await run.start(saturation_incident())
        return await run.start(saturation_incident())

    assert asyncio.run(scenario()).kind == "approval"
    assert len(world.entries(EntryType.DECISION)) == 1


def test_no_side_effects_before_the_approval_interrupt() -> None:
    world = make_world(policy=approval_policy())
    run = runner(world)

    async def scenario() -> tuple[int, int]:
        request = await to_approval(world, run)
        before = len(world.ledger.entries)
        await run.status("shop.web.1")
        await run.resume_bake("shop.web.1")  # wrong kind of resume: ignored
        unchanged = len(world.ledger.entries)
        await run.resume_approval("shop.web.1", answer(request, ApprovalOutcome.APPROVED))
        return before, unchanged

    before, unchanged = asyncio.run(scenario())
    assert unchanged == before
    kinds = [e.type for e in world.ledger.entries[before:]]
    # The re-run of request_approval adds only what comes after interrupt().
    assert kinds == [EntryType.APPROVAL, EntryType.DECISION, EntryType.ACTION]
    assert len(world.entries(EntryType.APPROVAL_REQUESTED)) == 1


def test_pending_lists_waiting_threads() -> None:
    world = make_world(policy=approval_policy())
    run = runner(world)

    async def scenario() -> list[str]:
        await run.start(saturation_incident("a"))
        return [w.thread_id for w in await run.pending()]

    assert asyncio.run(scenario()) == ["a"]


def test_action_result_status_is_applied_once() -> None:
    world = make_world()
    asyncio.run(runner(world).start(saturation_incident()))
    assert [e.payload["status"] for e in world.entries(EntryType.ACTION)] == [ActionStatus.APPLIED]


class LateProposer:
    """An LLM that answers a valid, agreeing plan ``delay`` after being asked (CH-02)."""

    def __init__(self, world: World, delay: timedelta) -> None:
        self.world, self.delay = world, delay

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        self.world.clock.set(request.now + self.delay)
        return ProposalOutcome(plan=llm_plan(request.runbook_plan, 6))


@pytest.mark.parametrize(("delay_s", "acted"), [(45, True), (90, False)])
def test_a_late_plan_is_judged_on_its_snapshot_age(delay_s: int, acted: bool) -> None:
    world = make_world()
    world.proposer = LateProposer(world, timedelta(seconds=delay_s))  # type: ignore[assignment]
    waiting = asyncio.run(runner(world).start(saturation_incident()))
    assert world.writes() == ([SCALE_UP] if acted else [])
    (decision, *_) = world.entries(EntryType.DECISION)
    codes = [r["code"] for r in decision.payload["decision"]["reasons"]]
    assert ("plan_stale" in codes) is not acted
    if not acted:  # freshnessMax is 60 s; a stale plan is re-planned later, not dropped
        assert (waiting.kind, waiting.status) == ("done", "denied")
        (escalation,) = world.entries(EntryType.ESCALATION)
        assert "will re-plan later" in escalation.payload["reason"]
