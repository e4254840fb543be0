"""What a replay is asked to do: the inputs and the modes the CLI offers.

Kept apart from the engine so that the CLI can parse its flags without importing the planner
graph (LangGraph costs half a second at start-up that ``aiops version`` need not pay).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from controller.guardrails.loader import LoadedPolicy
from controller.models.incident_file import IncidentFile
from controller.planner.claude.tools import ToolsDataProvider
from controller.planner.runbook.catalog import Runbook
from controller.ports import Clock, PlanProposer
from controller.settings import Settings

__all__ = [
    "ApprovalsMode",
    "PlannerMode",
    "ProposerFactory",
    "ReplayInputs",
    "default_approvals_mode",
    "tick_interval",
]


class ApprovalsMode(StrEnum):
    """Who answers approval requests during a replay."""

    RECORDED = "recorded"
    GRANT = "grant"
    DENY = "deny"
    INTERACTIVE = "interactive"


ProposerFactory = Callable[[ToolsDataProvider, Clock], PlanProposer]
"""Builds the LLM planner once the engine can supply its tools' data and its clock."""


class PlannerMode(StrEnum):
    """Which planner proposes during a replay (the runbook planner always runs in shadow)."""

    RUNBOOK = "runbook"
    LLM = "llm"
    RECORDED = "recorded"


def default_approvals_mode(incident: IncidentFile) -> ApprovalsMode:
    """Recorded answers when the file has them, else grant (a replay changes nothing real)."""
    return ApprovalsMode.RECORDED if incident.recorded.approvals else ApprovalsMode.GRANT


@dataclass(frozen=True, slots=True)
class ReplayInputs:
    """Everything a replay needs, already loaded and validated."""

    incident: IncidentFile
    source: str
    policy: LoadedPolicy
    runbooks: tuple[Runbook, ...]
    settings: Settings
    approvals: ApprovalsMode
    planner: PlannerMode = PlannerMode.RUNBOOK
    proposer_factory: ProposerFactory | None = None


def tick_interval(inputs: ReplayInputs) -> timedelta:
    """The configured tick, else the incident's sample step."""
    return inputs.settings.replay.tick or inputs.incident.window.step
