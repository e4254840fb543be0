"""Builders for the LLM adapter tests: one bad-deploy incident, settings with tiny waits, and a
planner wired to the REAL anthropic SDK talking to the loopback FakeMessagesApi."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic

from controller.models.actions import Plan, RollbackAction, ScaleAction
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import (
    FaultKind,
    Finding,
    FindingKind,
    Hypothesis,
    Incident,
    Severity,
)
from controller.models.proposals import ProposalRequest
from controller.models.signals import Signal
from controller.models.workloads import (
    ReplicaStatus,
    Revision,
    WorkloadInventory,
    WorkloadRef,
)
from controller.planner.claude.budget import TokenBudget
from controller.planner.claude.client import ClaudePlanner, build_client, llm_breaker
from controller.planner.claude.prompts import Telemetry
from controller.planner.claude.tools import ToolsData
from controller.planner.runbook.catalog import Runbook, load_runbooks
from controller.planner.runbook.planner import plan_incident
from controller.resilience import CircuitBreaker
from controller.settings import BreakerSettings, LlmSettings, RetrySettings

RUNBOOKS: tuple[Runbook, ...] = load_runbooks(Path(__file__).resolve().parents[2] / "runbooks")
WEB = WorkloadRef(namespace="shop", name="web")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SNAPSHOT = T0 + timedelta(minutes=10)
NOW = T0 + timedelta(minutes=11)

DEPLOY = ClusterEvent(
    time=T0 + timedelta(minutes=2),
    kind=EventKind.DEPLOY,
    workload=WEB,
    revision=3,
    previous_revision=2,
    image="shop/web:1.3",
    actor="alice",
    message="rolled out shop/web:1.3",
)


def inventory(desired: int = 4) -> WorkloadInventory:
    return WorkloadInventory(
        ref=WEB,
        replicas=ReplicaStatus(desired=desired, ready=desired, available=desired, updated=desired),
        revisions=tuple(
            Revision(revision=n, image=f"shop/web:1.{n}", created=T0 - timedelta(days=5 - n))
            for n in (2, 3)  # revision 1 was pruned from the history
        ),
        current_revision=3,
    )


def incident(incident_id: str = "inc-1") -> Incident:
    return Incident(
        id=incident_id,
        workload=WEB,
        opened_at=T0 + timedelta(minutes=8),
        onset=T0 + timedelta(minutes=5),
        severity=Severity.PAGE,
        findings=(
            Finding(
                kind=FindingKind.SLO_BURN,
                workload=WEB,
                severity=Severity.PAGE,
                since=T0 + timedelta(minutes=5),
                signal=Signal.ERROR_RATIO,
                value=16.0,
                threshold=14.4,
                window=timedelta(hours=1),
            ),
        ),
        hypotheses=(
            Hypothesis(
                fault=FaultKind.BAD_DEPLOY,
                workload=WEB,
                confidence=0.8,
                rationale="deploy right before onset",
                change=DEPLOY,
            ),
        ),
        snapshot_at=SNAPSHOT,
    )


def request(incident_id: str = "inc-1") -> ProposalRequest:
    inc = incident(incident_id)
    inv = inventory()
    return ProposalRequest(
        incident=inc, inventory=inv, runbook_plan=plan_incident(inc, inv, RUNBOOKS, NOW), now=NOW
    )


def rollback_input(to_revision: int = 2, **extra: Any) -> dict[str, Any]:
    """A valid submit_plan input: roll web back from 3 to ``to_revision``."""
    data: dict[str, Any] = {
        "action": {
            "kind": "rollback",
            "target": {"namespace": "shop", "name": "web"},
            "from_revision": 3,
            "to_revision": to_revision,
        },
        "risk": "medium",
        "rationale": "Error budget burns 16x since the deploy of revision 3; roll back to 2.",
        "evidence": [{"name": "slo_burn error_ratio", "value": 16.0, "threshold": 14.4}],
        "verification": {"signal": "error_ratio", "expect": "decrease", "bake": "5m"},
    }
    data.update(extra)
    return data


def scale_input(to_replicas: int) -> dict[str, Any]:
    return {
        "action": {
            "kind": "scale",
            "target": {"namespace": "shop", "name": "web"},
            "from_replicas": 4,
            "to_replicas": to_replicas,
        },
        "risk": "low",
        "rationale": "More replicas for the load.",
    }


def expected_rollback(to_revision: int = 2) -> RollbackAction:
    return RollbackAction(target=WEB, from_revision=3, to_revision=to_revision)


def expected_scale(to_replicas: int) -> ScaleAction:
    return ScaleAction(target=WEB, from_replicas=4, to_replicas=to_replicas)


def settings(**overrides: Any) -> LlmSettings:
    """Tiny waits everywhere: nothing in this folder sleeps for real beyond a second."""
    values: dict[str, Any] = {
        "model": "claude-test",
        "call_timeout": timedelta(seconds=1),
        "deadline": timedelta(seconds=10),
        "retry": RetrySettings(
            attempts=3,
            initial_backoff=timedelta(milliseconds=10),
            max_backoff=timedelta(milliseconds=40),
            max_retry_after=timedelta(seconds=5),
        ),
        "breaker": BreakerSettings(failures=2, reset_after=timedelta(seconds=30)),
        "max_tool_calls": 4,
    }
    values.update(overrides)
    return LlmSettings(**values)


class FixedClock:
    """The Clock port, moved by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class FakeMonotonic:
    """A monotonic clock the test moves (for breaker reset times)."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@dataclass
class Sleeps:
    """The injected sleep: records every wait, never blocks."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


NO_TELEMETRY = Telemetry()


def tools_data(telemetry: Telemetry = NO_TELEMETRY) -> ToolsData:
    return ToolsData(inventories={WEB.key: inventory()}, telemetry=telemetry, runbooks=RUNBOOKS)


OPEN_PLANNERS: list[ClaudePlanner] = []
"""Planners made by make_planner; tests/llm/conftest.py closes them after each test, so no
keep-alive socket outlives its test (an unclosed socket is a ResourceWarning, an error here)."""


@dataclass
class Wiring:
    planner: ClaudePlanner
    sleeps: Sleeps
    budget: TokenBudget
    breaker: CircuitBreaker
    clock: FixedClock


def make_planner(
    base_url: str,
    llm: LlmSettings | None = None,
    *,
    telemetry: Telemetry = NO_TELEMETRY,
    budget: TokenBudget | None = None,
    breaker: CircuitBreaker | None = None,
    clock: FixedClock | None = None,
) -> Wiring:
    """A ClaudePlanner over the real SDK pointed at ``base_url``."""
    llm = llm or settings()
    sleeps = Sleeps()
    budget = budget or TokenBudget.from_settings(llm)
    breaker = breaker or llm_breaker(llm)
    clock = clock or FixedClock()
    client: anthropic.Anthropic = build_client(
        llm.model_copy(update={"base_url": base_url}), "test-key"
    )
    planner = ClaudePlanner(
        client,
        settings=llm,
        runbooks=RUNBOOKS,
        tools_data=lambda _request: tools_data(telemetry),
        breaker=breaker,
        budget=budget,
        clock=clock,
        sleep=sleeps,
    )
    OPEN_PLANNERS.append(planner)
    return Wiring(planner, sleeps, budget, breaker, clock)


def plan_of(outcome: Any) -> Plan:
    assert outcome.plan is not None, f"no plan: {outcome.fallback} {outcome.detail}"
    plan: Plan = outcome.plan
    return plan
