"""Recorded replay: the same Plan offline; a missing recording raises, never calls out."""

from __future__ import annotations

import pytest

from chaos.faults.fake_llm import FakeMessagesApi, HttpError, Reply, SubmitPlan, ToolCall
from controller.errors import InputError
from controller.models.incident_file import LlmExchange
from controller.planner.claude.recorded import RecordingMissingError, build_recorded_planner
from tests.llm.support import (
    RUNBOOKS,
    FixedClock,
    make_planner,
    plan_of,
    request,
    rollback_input,
    settings,
    tools_data,
)


def _recorded() -> tuple[object, tuple[LlmExchange, ...]]:
    replies: list[Reply] = [
        HttpError(529),
        ToolCall("get_rollout_history", {"workload": "shop/web"}),
        SubmitPlan(rollback_input()),
    ]
    with FakeMessagesApi(replies) as fake:
        outcome = make_planner(fake.base_url).planner.propose(request())
    return plan_of(outcome), outcome.exchanges


def _replayer(exchanges):
    return build_recorded_planner(
        exchanges, settings(), RUNBOOKS, tools_data=lambda _r: tools_data(), clock=FixedClock()
    )


def test_replay_reproduces_the_same_plan_offline() -> None:
    live_plan, exchanges = _recorded()
    assert len(exchanges) == 3 and exchanges[0].response["_http"]["status"] == 529
    stored = tuple(LlmExchange.model_validate_json(e.model_dump_json()) for e in exchanges)
    replayed = _replayer(stored).propose(request())
    assert plan_of(replayed) == live_plan
    assert replayed.plan is not None and replayed.plan.plan_hash() == live_plan.plan_hash()
    assert (replayed.attempts, replayed.tool_calls) == (3, 1)


def test_missing_recording_raises_and_never_falls_back() -> None:
    _, exchanges = _recorded()
    planner = _replayer(exchanges[:2])
    with pytest.raises(RecordingMissingError) as caught:
        planner.propose(request())
    assert isinstance(caught.value, InputError)
    assert caught.value.source == "incident file llm_exchanges"
    assert caught.value.location == "inc-1[2]"


def test_other_incident_has_no_recording() -> None:
    _, exchanges = _recorded()
    with pytest.raises(RecordingMissingError, match=r"inc-other\[0\]"):
        _replayer(exchanges).propose(request("inc-other"))
