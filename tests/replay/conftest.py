"""Replay fixtures: the bundled policy and runbooks, and a helper that replays one file."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.bundled import default_policy, default_runbooks
from controller.guardrails.loader import LoadedPolicy, load_policy
from controller.incident_loader import load_incident
from controller.models.incident_file import IncidentFile
from controller.planner.runbook.catalog import Runbook, load_runbooks
from controller.replay.engine import run_replay
from controller.replay.inputs import ApprovalsMode, ReplayInputs, default_approvals_mode
from controller.replay.result import ReplayResult
from controller.settings import Settings
from controller.sim.fakes import InMemoryLedger
from tests.conftest import EXAMPLES


@pytest.fixture(scope="session")
def policy() -> LoadedPolicy:
    return load_policy(default_policy())


@pytest.fixture(scope="session")
def runbooks() -> tuple[Runbook, ...]:
    return load_runbooks(default_runbooks())


def example(name: str) -> IncidentFile:
    return load_incident(EXAMPLES / f"{name}.json")


def replay(
    incident: IncidentFile,
    policy: LoadedPolicy,
    runbooks: tuple[Runbook, ...],
    *,
    approvals: ApprovalsMode | None = None,
    settings: Settings | None = None,
) -> tuple[ReplayResult, InMemoryLedger]:
    ledger = InMemoryLedger()
    inputs = ReplayInputs(
        incident=incident,
        source="test",
        policy=policy,
        runbooks=runbooks,
        settings=settings or Settings(),
        approvals=approvals or default_approvals_mode(incident),
    )
    return run_replay(inputs, ledger), ledger


def example_names() -> list[str]:
    return sorted(p.stem for p in Path(EXAMPLES).glob("*.json"))
