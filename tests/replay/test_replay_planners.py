"""Replay through the planner graph with an LLM planner beside the runbook planner.

The proposer here is a scripted fake of the ``PlanProposer`` port (the Claude adapter itself
is driven over HTTP in tests/llm and tests/cli); what is under test is the replay: the graph
runs with a proposer, and the ledger, the timeline and the LLM summary agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from controller.bundled import default_policy, default_runbooks
from controller.guardrails.loader import load_policy
from controller.models.actions import PlannerKind, RollbackAction
from controller.models.decisions import ReasonCode
from controller.models.ledger import EntryType
from controller.models.proposals import FallbackReason, ProposalOutcome, ProposalRequest
from controller.planner.claude.tools import ToolsDataProvider
from controller.planner.runbook.catalog import load_runbooks
from controller.ports import Clock, PlanProposer
from controller.replay.engine import ReplayEngine, run_replay
from controller.replay.inputs import ApprovalsMode, PlannerMode, ReplayInputs
from controller.replay.result import ReplayResult, TimelineKind
from controller.settings import Settings
from controller.sim.fakes import InMemoryLedger
from tests.replay.conftest import example

Answer = Callable[[ProposalRequest], ProposalOutcome]


class Scripted:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[ProposalRequest] = []

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        self.requests.append(request)
        return self.answer(request)


def agree(request: ProposalRequest) -> ProposalOutcome:
    plan = request.runbook_plan.model_copy(
        update={"planner": PlannerKind.LLM, "runbook_id": None, "rationale": "same, reworded"}
    )
    return ProposalOutcome(plan=plan, attempts=1)


def older_revision(request: ProposalRequest) -> ProposalOutcome:
    action = request.runbook_plan.action
    assert isinstance(action, RollbackAction)
    other = action.model_copy(update={"to_revision": action.to_revision - 1})
    plan = request.runbook_plan.model_copy(
        update={"planner": PlannerKind.LLM, "runbook_id": None, "action": other}
    )
    return ProposalOutcome(plan=plan, attempts=1)


def overloaded(request: ProposalRequest) -> ProposalOutcome:
    return ProposalOutcome(fallback=FallbackReason.OVERLOADED, detail="529", attempts=3)


def inputs_for(scripted: Scripted, approvals: ApprovalsMode) -> ReplayInputs:
    def factory(_tools: ToolsDataProvider, _clock: Clock) -> PlanProposer:
        return scripted

    return ReplayInputs(
        incident=example("bad-deploy"),
        source="test",
        policy=load_policy(default_policy()),
        runbooks=load_runbooks(default_runbooks()),
        settings=Settings(),
        approvals=approvals,
        planner=PlannerMode.LLM,
        proposer_factory=factory,
    )


def run(answer: Answer, approvals: ApprovalsMode) -> tuple[ReplayResult, InMemoryLedger, Scripted]:
    scripted = Scripted(answer)
    ledger = InMemoryLedger()
    return run_replay(inputs_for(scripted, approvals), ledger), ledger, scripted


@pytest.mark.parametrize("answer", [agree, older_revision, overloaded])
def test_ledger_timeline_and_llm_summary_agree(answer: Answer) -> None:
    result, ledger, scripted = run(answer, ApprovalsMode.GRANT)
    entries = Counter(e.type for e in ledger.entries)
    rows = Counter(e.kind for e in result.timeline)
    assert entries[EntryType.PLANNER] == rows[TimelineKind.PLANNER] == len(scripted.requests)
    assert result.llm is not None and result.llm.calls == len(scripted.requests) >= 1
    assert entries[EntryType.PROPOSAL] == rows[TimelineKind.PROPOSAL] == len(result.plans)
    assert entries[EntryType.DECISION] == rows[TimelineKind.VERDICT] == len(result.decisions)


def test_agreeing_plan_is_the_one_acted_on() -> None:
    result, _, _ = run(agree, ApprovalsMode.GRANT)
    assert result.plans[0].planner is PlannerKind.LLM
    assert result.actions and result.actions[0].plan_hash == result.plans[0].plan_hash()
    assert result.llm is not None and result.llm.plans == result.llm.calls


def test_fallback_runs_the_runbook_plan_and_counts_the_reason() -> None:
    result, _, _ = run(overloaded, ApprovalsMode.GRANT)
    assert result.plans[0].planner is PlannerKind.RUNBOOK
    assert result.actions and result.actions[0].action == result.plans[0].action
    assert result.llm is not None and result.llm.fallbacks == {"overloaded": result.llm.calls}
    assert result.llm.attempts == 3 * result.llm.calls


def test_disagreement_waits_for_a_human_and_a_no_changes_nothing() -> None:
    result, ledger, _ = run(older_revision, ApprovalsMode.DENY)
    assert result.actions == ()
    codes = {c for d in result.decisions for c in d.codes}
    assert ReasonCode.APPROVAL_REQUIRED_DISAGREEMENT in codes
    escalations = [e for e in ledger.entries if e.type is EntryType.ESCALATION]
    assert any(e.payload.get("disagreement") for e in escalations)


def test_every_fallback_is_also_a_metric() -> None:
    scripted = Scripted(overloaded)
    inputs = inputs_for(scripted, ApprovalsMode.GRANT)
    engine = ReplayEngine(inputs, InMemoryLedger())
    result = engine.run()
    fallbacks = engine.controller_metrics.value(
        "aiops_llm_fallbacks_total", {"reason": "overloaded"}
    )
    assert fallbacks == len(scripted.requests) == (result.llm.calls if result.llm else -1) >= 1
