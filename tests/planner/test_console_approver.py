"""The terminal approver: yes approves, everything else (no, EOF, timeout, late) does not."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from rich.console import Console

from controller.approvals.console import MAX_PROMPTS, ConsoleApprover
from controller.models.decisions import ApprovalOutcome, Reason, ReasonCode
from controller.sim.fakes import SimulatedClock
from controller.state.inbox import StoredInbox
from tests.factories import T0
from tests.planner.test_routes_and_helpers import REQUEST

REQ = REQUEST.model_copy(
    update={"reasons": (Reason(code=ReasonCode.APPROVAL_REQUIRED_KIND, detail="scale"),)}
)


def reader(answers: list[str | type[BaseException]]) -> Callable[[str], str]:
    def read(prompt: str) -> str:
        answer = answers.pop(0)
        if isinstance(answer, str):
            return answer
        raise answer()

    return read


CASES: list[tuple[list[str | type[BaseException]], ApprovalOutcome]] = [
    (["y"], ApprovalOutcome.APPROVED),
    (["YES "], ApprovalOutcome.APPROVED),
    (["n"], ApprovalOutcome.REJECTED),
    (["details", "y"], ApprovalOutcome.APPROVED),
    (["maybe", "no"], ApprovalOutcome.REJECTED),
    ([EOFError], ApprovalOutcome.REJECTED),
    ([TimeoutError], ApprovalOutcome.REJECTED),
    (["?"] * MAX_PROMPTS, ApprovalOutcome.REJECTED),
]


@pytest.mark.parametrize(("answers", "outcome"), CASES)
def test_console_answers(answers: list[str | type[BaseException]], outcome: str) -> None:
    out = io.StringIO()
    clock = SimulatedClock(T0 + timedelta(minutes=1))
    approver = ConsoleApprover(
        console=Console(file=out, width=120),
        read=reader(answers),
        user="bob",
        clock=clock,
        inbox=StoredInbox(),
    )
    approval = approver.decide(REQ)
    assert approval.outcome == outcome
    assert approval.approver == "console:bob"
    assert approval.covers(REQ) is (outcome == ApprovalOutcome.APPROVED)
    text = out.getvalue()
    assert REQ.plan_hash[:12] in text and "approval_required_kind" in text


def test_late_yes_is_expired() -> None:
    clock = SimulatedClock(T0 + timedelta(minutes=20))
    approver = ConsoleApprover(
        console=Console(file=io.StringIO()),
        read=reader(["y"]),
        user="bob",
        clock=clock,
        inbox=StoredInbox(),
    )
    assert approver.decide(REQ).outcome is ApprovalOutcome.EXPIRED
