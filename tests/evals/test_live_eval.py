"""Opt-in live evaluation of the Claude planner on the bundled example incidents.

Marked ``llm`` and skipped unless ANTHROPIC_API_KEY is set, so the default test run never
calls the API. Run with: ``ANTHROPIC_API_KEY=... python -m pytest tests/evals -m llm -s``.
For each example, the replay (runbook planner) finds the first incident; that incident, its
workload's inventory and the shadow runbook plan go to the real API; the decision and the
tokens spent are printed.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.bundled import default_policy, default_runbooks
from controller.guardrails.loader import load_policy
from controller.incident_loader import load_incident
from controller.models.proposals import ProposalRequest
from controller.planner.claude.client import build_claude_planner
from controller.planner.claude.tools import ToolsData
from controller.planner.runbook.catalog import load_runbooks
from controller.planner.runbook.planner import plan_incident
from controller.replay.engine import run_replay
from controller.replay.inputs import ReplayInputs, default_approvals_mode
from controller.settings import Settings
from controller.sim.fakes import InMemoryLedger

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "incidents"
KEY = os.environ.get("ANTHROPIC_API_KEY")

pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(not KEY, reason="live LLM eval: set ANTHROPIC_API_KEY to run"),
]


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_live_plan_for_example(path: Path) -> None:
    incident_file = load_incident(path)
    runbooks = load_runbooks(default_runbooks())
    settings = Settings()
    inputs = ReplayInputs(
        incident=incident_file,
        source=str(path),
        policy=load_policy(default_policy()),
        runbooks=runbooks,
        settings=settings,
        approvals=default_approvals_mode(incident_file),
    )
    result = run_replay(inputs, InMemoryLedger())
    if not result.incidents:
        pytest.skip(f"{path.stem}: the replay opens no incident")
    incident = result.incidents[0]
    inventory = incident_file.workload(incident.workload)
    assert inventory is not None
    request = ProposalRequest(
        incident=incident,
        inventory=inventory,
        runbook_plan=plan_incident(incident, inventory, runbooks, incident.snapshot_at),
        now=incident.snapshot_at,
    )
    data = ToolsData(
        inventories={w.ref.key: w for w in incident_file.workloads},
        runbooks=runbooks,
    )
    planner = build_claude_planner(
        settings.llm, KEY, runbooks=runbooks, tools_data=lambda _r: data, clock=_WallClock()
    )
    started = time.monotonic()
    outcome = planner.propose(request)
    took = time.monotonic() - started
    decision = "fallback" if outcome.plan is None else outcome.plan.action.kind
    print(  # noqa: T201 - the eval's report
        f"{path.stem}: incident={incident.id} decision={decision} "
        f"fallback={outcome.fallback} tokens={outcome.usage.total} "
        f"attempts={outcome.attempts} tools={outcome.tool_calls} reasks={outcome.reasks} "
        f"shadow={request.runbook_plan.action.kind} took={took:.1f}s"
    )
    assert outcome.plan is not None or outcome.fallback is not None
