"""The same control loop with the live planner thread: every bundled example replays to the
same result and ledger as with inline planning (planning off the tick changes when work
runs, never what is decided)."""

from __future__ import annotations

import pytest

from controller.guardrails.loader import LoadedPolicy
from controller.loop import ControlLoop
from controller.planner.graph.runner import memory_checkpointer
from controller.planner.runbook.catalog import Runbook
from controller.planning import BackgroundPlanning, Planning
from controller.ports import LedgerSink
from controller.replay.engine import ReplayEngine
from controller.replay.inputs import ReplayInputs, default_approvals_mode
from controller.settings import Settings
from controller.sim.fakes import InMemoryLedger
from tests.replay.conftest import example, example_names, replay


def background(loop: ControlLoop, ledger: LedgerSink) -> Planning:
    return BackgroundPlanning(loop.make_driver, memory_checkpointer, ledger)


@pytest.mark.parametrize("name", example_names())
def test_background_planning_decides_like_inline(
    name: str, policy: LoadedPolicy, runbooks: tuple[Runbook, ...]
) -> None:
    incident = example(name)
    inline, inline_ledger = replay(incident, policy, runbooks)
    ledger = InMemoryLedger()
    inputs = ReplayInputs(
        incident=incident,
        source="test",
        policy=policy,
        runbooks=runbooks,
        settings=Settings(),
        approvals=default_approvals_mode(incident),
    )
    threaded = ReplayEngine(inputs, ledger, planning=background).run()
    assert threaded.model_dump(mode="json") == inline.model_dump(mode="json")
    assert [(e.type, e.payload) for e in ledger.entries] == [
        (e.type, e.payload) for e in inline_ledger.entries
    ]
