"""The bundled LLM recording (examples/recorded/bad-deploy-llm.json) replays offline.

It is bad-deploy.json plus the exchanges of one LLM-planned replay, recorded in the Messages
API wire format (through the real SDK, against the loopback fake Messages API of
chaos/faults/fake_llm.py). Replayed with the recorded planner, the LLM's plan is the one acted
on, with no network and no API key.
"""

from __future__ import annotations

import json

from controller.incident_loader import load_incident
from controller.models.actions import PlannerKind
from controller.models.decisions import ActionStatus
from controller.planner.claude.recorded import build_recorded_planner
from controller.planner.claude.tools import ToolsDataProvider
from controller.ports import Clock, PlanProposer
from controller.replay.engine import run_replay
from controller.replay.inputs import PlannerMode, ReplayInputs, default_approvals_mode
from controller.settings import Settings
from controller.sim.fakes import InMemoryLedger
from tests.conftest import EXAMPLES, REPO

RECORDED = REPO / "examples" / "recorded" / "bad-deploy-llm.json"


def test_the_recording_is_the_bad_deploy_story_plus_exchanges() -> None:
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    original = json.loads((EXAMPLES / "bad-deploy.json").read_text(encoding="utf-8"))

    exchanges = recorded.pop("llm_exchanges")
    assert recorded.pop("metadata")["name"] == "bad-deploy-llm"
    original.pop("metadata")
    assert original.pop("llm_exchanges") == []
    assert recorded == original, "re-record examples/recorded/ (see examples/README.md)"
    assert [e["response"]["content"][-1]["name"] for e in exchanges] == [
        "get_rollout_history",
        "get_metrics",
        "submit_plan",
    ]
    assert {e["incident_id"] for e in exchanges} == {"shop.checkout.20260303T141600Z"}
    assert "sk-" not in RECORDED.read_text(encoding="utf-8")  # no key was recorded


def test_the_recorded_plan_is_the_one_acted_on(policy, runbooks) -> None:
    incident = load_incident(RECORDED)
    settings = Settings()

    def factory(tools: ToolsDataProvider, clock: Clock) -> PlanProposer:
        return build_recorded_planner(
            incident.llm_exchanges, settings.llm, runbooks, tools_data=tools, clock=clock
        )

    inputs = ReplayInputs(
        incident=incident,
        source=str(RECORDED),
        policy=policy,
        runbooks=runbooks,
        settings=settings,
        approvals=default_approvals_mode(incident),
        planner=PlannerMode.RECORDED,
        proposer_factory=factory,
    )

    result = run_replay(inputs, InMemoryLedger())

    assert result.llm is not None
    assert (result.llm.calls, result.llm.plans, result.llm.fallbacks) == (1, 1, {})
    assert [p.planner for p in result.plans] == [PlannerKind.LLM]
    assert [(a.action.kind, a.status) for a in result.actions] == [
        ("rollback", ActionStatus.APPLIED)
    ]
    assert result.actions[0].plan_hash == result.plans[0].plan_hash()
    assert result.score is not None and result.score.passed


def test_the_recorded_requests_are_what_the_controller_sends_today(runbooks) -> None:
    """A prompt change leaves a stale recording behind: re-record with examples/record_llm.py."""
    from controller.planner.claude import prompts

    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    first = recorded["llm_exchanges"][0]["request"]
    assert first["system"] == prompts.system_blocks(runbooks), (
        "stale recording: run python examples/record_llm.py"
    )
    assert first["messages"][0]["content"].startswith(prompts.INCIDENT_INTRO.split("\n")[0])
