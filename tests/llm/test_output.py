"""CH-03 (malformed output) and CH-04 (out-of-scope plans): the strict parser and the one
re-ask, through the real SDK and the fake; plus a Hypothesis property over mutations."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chaos.faults.fake_llm import (
    Blocks,
    Conflicting,
    EmptyContent,
    FakeMessagesApi,
    HugeBody,
    ReplySpec,
    SubmitPlan,
    Text,
    Truncated,
)
from controller.models.actions import Plan, PlannerKind
from controller.models.proposals import FallbackReason
from controller.planner.claude.output import (
    Rejection,
    Submission,
    parse_submission,
    scope_problem,
    submission_schema,
)
from tests.llm.support import (
    NOW,
    expected_rollback,
    inventory,
    make_planner,
    plan_of,
    request,
    rollback_input,
    scale_input,
)

MISSING = {k: v for k, v in rollback_input().items() if k != "risk"}
WRONG_TYPE = scale_input(10) | {"action": {**scale_input(8)["action"], "to_replicas": "ten"}}
EXTRA = rollback_input(approve=True)
NESTED_EXTRA = rollback_input() | {"action": {**rollback_input()["action"], "force": True}}

MALFORMED: dict[str, ReplySpec] = {
    "prose": Text("I think you should roll back web to revision 2."),
    "missing": SubmitPlan(MISSING),
    "wrong_type": SubmitPlan(WRONG_TYPE),
    "extra": SubmitPlan(EXTRA),
    "nested_extra": SubmitPlan(NESTED_EXTRA),
    "truncated": Truncated({"action": {"kind": "rollback"}}),
    "empty": EmptyContent(),
    "huge": HugeBody(1024 * 1024),
    "conflicting": Conflicting(rollback_input(), scale_input(8)),
    "submit_plus_tool": Blocks(
        (
            {"type": "tool_use", "id": "t1", "name": "submit_plan", "input": rollback_input()},
            {"type": "tool_use", "id": "t2", "name": "get_metrics", "input": {"workload": "x"}},
        )
    ),
}


def body(content: list[Any], stop: str = "tool_use") -> dict[str, Any]:
    return {"content": content, "stop_reason": stop}


def submit(payload: Any) -> dict[str, Any]:
    return body([{"type": "tool_use", "id": "t", "name": "submit_plan", "input": payload}])


def parse(raw: dict[str, Any], **kw: Any) -> Plan | Rejection:
    req = request()
    return parse_submission(raw, req.incident, req.runbook_plan, NOW, inventory=inventory(), **kw)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_reply_twice_is_rejected_twice_with_one_reask(name: str) -> None:
    bad = MALFORMED[name]
    with FakeMessagesApi([bad, bad]) as fake:
        wiring = make_planner(fake.base_url)
        outcome = wiring.planner.propose(request())
    assert outcome.plan is None and outcome.fallback is FallbackReason.INVALID_OUTPUT
    assert outcome.reasks == 1 and wiring.planner.rejections == 2 == fake.attempts
    assert outcome.detail.startswith("rejected after one re-ask")
    reask = fake.requests[1].body
    assert reask["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert "Your reply was rejected" in json.dumps(reask["messages"][-1])


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_then_valid_is_accepted_after_the_reask(name: str) -> None:
    with FakeMessagesApi([MALFORMED[name], SubmitPlan(rollback_input())]) as fake:
        wiring = make_planner(fake.base_url)
        outcome = wiring.planner.propose(request())
    assert plan_of(outcome).action == expected_rollback()
    assert (outcome.reasks, wiring.planner.rejections, fake.attempts) == (1, 1, 2)


CH04 = {
    "other_deployment": {"namespace": "shop", "name": "payments"},
    "kube_system": {"namespace": "kube-system", "name": "web"},
}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            rollback_input() | {"action": {**rollback_input()["action"], "target": CH04[k]}},
            FallbackReason.OUT_OF_SCOPE,
        )
        for k in sorted(CH04)
    ]
    + [
        (scale_input(0), FallbackReason.OUT_OF_SCOPE),
        (scale_input(40), FallbackReason.OUT_OF_SCOPE),
        (rollback_input(to_revision=1), FallbackReason.OUT_OF_SCOPE),
        (
            scale_input(4)
            | {"action": {"kind": "delete", "target": {"namespace": "shop", "name": "web"}}},
            FallbackReason.INVALID_OUTPUT,
        ),
        (
            scale_input(4)
            | {"action": {"kind": "recreate", "target": {"namespace": "shop", "name": "web"}}},
            FallbackReason.INVALID_OUTPUT,
        ),
        (
            scale_input(4) | {"action": {"kind": "exec", "command": "rm -rf /"}},
            FallbackReason.INVALID_OUTPUT,
        ),
        (
            rollback_input() | {"action": {**rollback_input()["action"], "target": {}}},
            FallbackReason.INVALID_OUTPUT,
        ),
        (
            rollback_input()
            | {"action": {**rollback_input()["action"], "target": {"namespace": "*", "name": "*"}}},
            FallbackReason.INVALID_OUTPUT,
        ),
    ],
)
def test_out_of_policy_plans_fall_back(payload: dict[str, Any], reason: FallbackReason) -> None:
    direct = parse(submit(payload))
    assert isinstance(direct, Rejection) and direct.reason is reason
    with FakeMessagesApi([SubmitPlan(payload), SubmitPlan(payload)]) as fake:
        outcome = make_planner(fake.base_url).planner.propose(request())
    assert outcome.plan is None and outcome.fallback is reason and outcome.reasks == 1


def test_valid_submission_parses_to_an_llm_plan() -> None:
    plan = parse(submit(rollback_input()))
    assert isinstance(plan, Plan) and plan.planner is PlannerKind.LLM
    assert plan.verification is not None and plan.verification.bake.total_seconds() == 300


def test_size_cap_applies_to_the_raw_tool_input() -> None:
    big = rollback_input(rationale="y" * 1999)
    assert isinstance(parse(submit(big)), Plan)
    rejected = parse(submit(big), max_bytes=1024)
    assert isinstance(rejected, Rejection) and "bytes" in rejected.detail


def test_schema_forbids_extra_fields_and_lists_only_controller_actions() -> None:
    schema = submission_schema()
    assert schema["additionalProperties"] is False
    kinds = {
        d["properties"]["kind"].get("const")
        for d in schema["$defs"].values()
        if "const" in d.get("properties", {}).get("kind", {})
    }
    assert kinds == {
        "scale",
        "rollback",
        "restart",
        "pause_rollout",
        "adjust_hpa",
        "no_action",
        "escalate",
    }
    assert "duration" not in json.dumps(schema)


# --- Hypothesis: >= 1000 random mutations of a valid submission -------------------------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 50),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["ten", "delete", "exec", "kube-system", "*", "5m"]),
    st.builds(list),
    st.builds(dict),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


BASE = rollback_input()
PATHS = _paths(BASE)


@st.composite
def mutations(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            op = draw(st.sampled_from(["set", "delete", "add"]))
            if op == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif op == "add" and isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
            else:
                parent[path[-1]] = draw(VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    return data


@hsettings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_mutations_never_yield_an_invalid_or_out_of_scope_plan(payload: dict[str, Any]) -> None:
    result = parse(submit(payload))
    if isinstance(result, Rejection):
        assert result.reason in (FallbackReason.INVALID_OUTPUT, FallbackReason.OUT_OF_SCOPE)
        return
    # Accepted: it must be exactly what strict validation of the same JSON gives, in scope.
    model = Submission.model_validate_json(json.dumps(payload), strict=True)
    assert result.action == model.action and result.risk == model.risk
    assert result.rationale == model.rationale and result.evidence == model.evidence
    assert Plan.model_validate(result.model_dump()) == result
    assert scope_problem(result.action, request().incident, inventory()) is None
    assert result.action.target is None or result.action.target == request().incident.workload
