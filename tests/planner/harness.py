"""A small world for the planner graph: simulated cluster, clock, ledger and metrics that
react to the action, plus a scripted fake of the PlanProposer port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller.actuators.reconcile import Actuator
from controller.bundled import default_policy, default_runbooks
from controller.guardrails.loader import LoadedPolicy, load_policy, load_policy_text
from controller.models.actions import Plan, PlannerKind, ScaleAction
from controller.models.decisions import ActionResult
from controller.models.incident import (
    FaultKind,
    Finding,
    FindingKind,
    Hypothesis,
    Incident,
    Severity,
)
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.proposals import FallbackReason, ProposalOutcome, ProposalRequest
from controller.models.signals import SeriesData, Signal, SignalWindow
from controller.models.workloads import NamespaceInfo, WorkloadRef
from controller.planner.graph.context import PlannerContext, PlannerSettings
from controller.planner.runbook.catalog import Runbook, load_runbooks
from controller.sim.fakes import InMemoryLedger, SimulatedClock, SimulatedCluster, StaticKillSwitch
from controller.state.history import StoredHistory
from tests.factories import T0, WEB, inventory

OPTED_IN = NamespaceInfo(name="shop", labels={"aiops.dev/remediate": "enabled"})
BAKE = timedelta(minutes=5)  # the saturation runbook's bake window
STALL = timedelta(minutes=10)
POLICY: LoadedPolicy = load_policy(default_policy())
RUNBOOKS: tuple[Runbook, ...] = load_runbooks(default_runbooks())


def approval_policy() -> LoadedPolicy:
    """The default policy, but scaling also waits for a human."""
    text = default_policy().read_text(encoding="utf-8")
    text = text.replace("kinds: [rollback, restart, pause_rollout]", "kinds: [scale, rollback]")
    assert "kinds: [scale, rollback]" in text
    return load_policy_text(text, "approval-policy")


def saturation_incident(incident_id: str = "shop.web.1") -> Incident:
    """CPU saturation on shop/web: the runbook scales 4 -> 6."""
    finding = Finding(
        kind=FindingKind.CPU_SATURATION,
        workload=WEB,
        severity=Severity.PAGE,
        since=T0 - timedelta(minutes=6),
        signal=Signal.CPU_SATURATION,
        value=1.2,
        threshold=0.9,
        window=timedelta(minutes=5),
    )
    lead = Hypothesis(fault=FaultKind.SATURATION, workload=WEB, confidence=0.7, rationale="cpu")
    return Incident(
        id=incident_id,
        workload=WEB,
        opened_at=T0,
        onset=finding.since,
        severity=Severity.PAGE,
        findings=(finding,),
        hypotheses=(lead,),
        snapshot_at=T0,
    )


@dataclass
class ReactiveMetrics:
    """CPU saturation at 1.2 until the first write, then ``after`` (the world reacts).

    Before ``fresh_from`` the newest ``stall`` of data is missing (a stalled scrape: stale inputs).
    """

    cluster: SimulatedCluster
    after: float = 0.6
    fresh_from: datetime | None = None
    stall: timedelta = STALL

    def observe(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        switch = self.cluster.writes[0][0].timestamp() if self.cluster.writes else float("inf")
        start = T0.timestamp() - 3600
        newest = now if self.fresh_from is None or now >= self.fresh_from else now - self.stall
        stamps = [start + 30 * i for i in range(int((newest.timestamp() - start) // 30) + 1)]
        values = [1.2 if t <= switch else self.after for t in stamps]
        data = SeriesData.from_points(list(zip(stamps, values, strict=True)))
        window = SignalWindow(WEB, Signal.CPU_SATURATION, "test", now.timestamp(), data)
        return {w.key: {Signal.CPU_SATURATION: window} for w in workloads if w == WEB}

    def read(
        self, workloads: Sequence[WorkloadRef], now: datetime
    ) -> Mapping[str, Mapping[Signal, SignalWindow]]:
        """The planner's point read: this fake keeps no watched set, so it is ``observe``."""
        return self.observe(workloads, now)


@dataclass
class ScriptedProposer:
    """The PlanProposer port answering from a script; counts the questions."""

    outcomes: list[ProposalOutcome]
    requests: list[ProposalRequest] = field(default_factory=list)

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        self.requests.append(request)
        return self.outcomes.pop(0)


def llm_plan(runbook_like: Plan, to_replicas: int) -> Plan:
    """An LLM plan scaling shop/web 4 -> ``to_replicas`` (otherwise like the runbook's)."""
    action = ScaleAction(target=WEB, from_replicas=4, to_replicas=to_replicas)
    return runbook_like.model_copy(
        update={"planner": PlannerKind.LLM, "runbook_id": None, "action": action}
    )


def fallback(reason: FallbackReason) -> ProposalOutcome:
    return ProposalOutcome(plan=None, fallback=reason, detail="scripted failure")


class CrashAfterWrite:
    """An executor that applies the write, then dies once before anyone records it (CH-15b)."""

    def __init__(self, inner: Actuator) -> None:
        self.inner = inner
        self.crashes = 1
        self.results: list[ActionResult] = []

    def execute(self, action, *, plan_hash, key, dry_run, now, revert_of=None) -> ActionResult:
        result = self.inner.execute(
            action, plan_hash=plan_hash, key=key, dry_run=dry_run, now=now, revert_of=revert_of
        )
        self.results.append(result)
        if self.crashes:
            self.crashes -= 1
            raise SimulatedCrash("process killed after the patch")
        return result


class SimulatedCrash(Exception):
    """Stands for SIGKILL in the middle of a node."""


@dataclass
class World:
    """Everything outside the graph, shared across graph rebuilds (it outlives a restart)."""

    cluster: SimulatedCluster
    clock: SimulatedClock
    ledger: InMemoryLedger
    metrics: ReactiveMetrics
    history: StoredHistory
    policy: LoadedPolicy = POLICY
    proposer: ScriptedProposer | None = None
    executor: object | None = None
    settings: PlannerSettings = PlannerSettings()

    def context(self) -> PlannerContext:
        executor = self.executor or Actuator(
            reader=self.cluster, writer=self.cluster, kill_switch=StaticKillSwitch()
        )
        return PlannerContext(
            runbooks=RUNBOOKS,
            policy=self.policy,
            reader=self.cluster,
            metrics=self.metrics,
            executor=executor,  # type: ignore[arg-type]
            ledger=self.ledger,
            clock=self.clock,
            history=self.history,
            proposer=self.proposer,
            settings=self.settings,
        )

    def entries(self, kind: EntryType) -> list[LedgerEntry]:
        return [e for e in self.ledger.entries if e.type is kind]

    def writes(self) -> list[object]:
        return [action for _, action in self.cluster.writes]


def make_world(
    *,
    opted_in: bool = True,
    after: float = 0.6,
    fresh_from: datetime | None = None,
    stall: timedelta = STALL,
    **kwargs: object,
) -> World:
    cluster = SimulatedCluster([inventory(replicas=4)], [OPTED_IN] if opted_in else [])
    return World(
        cluster=cluster,
        clock=SimulatedClock(T0),
        ledger=InMemoryLedger(),
        metrics=ReactiveMetrics(cluster, after, fresh_from, stall),
        history=StoredHistory(),
        **kwargs,  # type: ignore[arg-type]
    )
