"""Routers (every branch, including the impossible states) and the pure helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from controller.models.actions import ScaleAction
from controller.models.decisions import Approval, ApprovalOutcome, ApprovalRequest
from controller.planner.graph.approval import expired_approval, judge_reply
from controller.planner.graph.routes import (
    route_after_act,
    route_after_approval,
    route_after_gather,
    route_after_guard,
    route_after_verify,
)
from controller.planner.graph.state import PlannerState, status_of
from tests.factories import T0, WEB

Router = Callable[[PlannerState], str]
IMPROVED: dict[str, Any] = {"phase": "improved"}
WORSE: dict[str, Any] = {"phase": "worse"}

ROUTES: list[tuple[Router, PlannerState, str]] = [
    (route_after_gather, {"status": "new"}, "propose"),
    (route_after_gather, {"status": "escalated"}, "escalate"),
    (route_after_guard, {"status": "planned"}, "act"),
    (route_after_guard, {"status": "awaiting_approval"}, "request_approval"),
    (route_after_guard, {"status": "denied"}, "escalate"),
    (route_after_guard, {"status": "escalated"}, "escalate"),
    (route_after_guard, {"status": "done"}, "finish"),
    (route_after_approval, {"status": "approved"}, "act"),
    (route_after_approval, {"status": "escalated"}, "escalate"),
    (route_after_act, {"status": "awaiting_bake", "bake_due": "x"}, "wait_bake"),
    (route_after_act, {"status": "escalated"}, "escalate"),
    (route_after_act, {"status": "acted"}, "finish"),
    (route_after_act, {"status": "done"}, "finish"),
    (route_after_verify, {"status": "verified", "verification": IMPROVED}, "finish"),
    (route_after_verify, {"status": "verified", "verification": WORSE}, "revert_and_escalate"),
    (route_after_verify, {"status": "done", "verification": WORSE}, "finish"),  # open loop
]

IMPOSSIBLE: list[tuple[Router, PlannerState]] = [
    (route_after_gather, {"status": "acted"}),
    (route_after_guard, {"status": "new"}),
    (route_after_approval, {"status": "awaiting_approval"}),
    (route_after_act, {"status": "awaiting_bake"}),
    (route_after_act, {"status": "approved"}),
    (route_after_verify, {"status": "done"}),
    (route_after_verify, {"status": "verified"}),
    (route_after_verify, {"status": "escalated", "verification": WORSE}),
    (route_after_gather, {}),
    (route_after_guard, {"status": "bogus"}),  # type: ignore[typeddict-item]
]


@pytest.mark.parametrize(("router", "state", "expected"), ROUTES)
def test_routes(router: Router, state: PlannerState, expected: str) -> None:
    assert router(state) == expected


@pytest.mark.parametrize(("router", "state"), IMPOSSIBLE)
def test_impossible_states_raise(router: Router, state: PlannerState) -> None:
    with pytest.raises(RuntimeError):
        router(state)


def test_status_of_reads_known_status() -> None:
    assert status_of({"status": "done"}) == "done"


REQUEST = ApprovalRequest(
    incident_id="i",
    plan_hash="a" * 64,
    snapshot_at=T0,
    requested_at=T0,
    expires_at=T0 + timedelta(minutes=15),
    action=ScaleAction(target=WEB, from_replicas=4, to_replicas=6),
    summary="scale out",
)
GOOD = Approval(
    plan_hash="a" * 64,
    snapshot_at=T0,
    outcome=ApprovalOutcome.APPROVED,
    approver="slack:alice",
    decided_at=T0 + timedelta(minutes=1),
)
LATE = T0 + timedelta(minutes=16)

REPLIES: list[tuple[object, Any, str]] = [
    (GOOD.model_dump(mode="json"), T0 + timedelta(minutes=1), ApprovalOutcome.APPROVED),
    (GOOD.model_dump(mode="json"), LATE, ApprovalOutcome.EXPIRED),
    (GOOD.model_copy(update={"decided_at": LATE}).model_dump(mode="json"), T0, "expired"),
    (GOOD.model_copy(update={"plan_hash": "b" * 64}).model_dump(mode="json"), T0, "rejected"),
    (GOOD.model_copy(update={"snapshot_at": LATE}).model_dump(mode="json"), T0, "rejected"),
    ({"approved": True}, T0, ApprovalOutcome.REJECTED),
    ("yes", T0, ApprovalOutcome.REJECTED),
    (
        GOOD.model_copy(update={"outcome": ApprovalOutcome.REJECTED, "plan_hash": "b" * 64}),
        T0,
        "rejected",
    ),
]


@pytest.mark.parametrize(("reply", "now", "outcome"), REPLIES)
def test_judge_reply(reply: object, now: Any, outcome: str) -> None:
    if isinstance(reply, Approval):
        reply = reply.model_dump(mode="json")
    judged = judge_reply(reply, REQUEST, now)
    assert judged.outcome == outcome
    assert judged.covers(REQUEST) is (outcome == ApprovalOutcome.APPROVED)
    assert judged.plan_hash == REQUEST.plan_hash


def test_expired_approval_never_covers() -> None:
    expired = expired_approval(REQUEST, LATE)
    assert expired.outcome is ApprovalOutcome.EXPIRED and not expired.covers(REQUEST)
