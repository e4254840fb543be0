"""``ControlLoop``: one tick of the controller, the same for ``aiops replay`` and ``aiops run``.

``tick(now)`` observes (metrics for the whole fleet in one batch, traces), detects, decides
the controller's mode (normal, degraded, blind, frozen), localizes new or re-diagnosed
incidents, records all of it in the ledger and hands the planner work to ``Planning``, which
never makes the tick wait for a plan (``controller/planning.py``). The loop reaches the world
only through the ports in ``LoopPorts``; which concretes fill them is decided by one
composition root per entry point (``controller/replay/engine.py`` for replay: recorded
sources and the simulated cluster; the operator's for live use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog
from opentelemetry import trace

from controller.actuators.reconcile import Actuator
from controller.detection import DetectionOutcome, DetectionState, WorkloadView, detect
from controller.detection.fleet import fleet_anomaly
from controller.detection.localize import rank_root_causes, with_candidates
from controller.guardrails.freeze import FreezeGate
from controller.guardrails.loader import LoadedPolicy
from controller.models.events import ClusterEvent
from controller.models.incident import Incident
from controller.models.ledger import EntryType
from controller.models.ledger_payloads import DetectionPayload, ResolvedPayload, SightRestored
from controller.models.modes import Mode
from controller.models.proposals import ProposalRequest
from controller.models.signals import Signal, SignalWindow
from controller.models.traces import TraceSnapshot
from controller.models.workloads import WorkloadInventory, WorkloadRef
from controller.observers.freshness import FleetSignal, ModeDecision, next_mode
from controller.planner.claude.prompts import Telemetry
from controller.planner.claude.tools import ToolsData
from controller.planner.graph.build import build_graph
from controller.planner.graph.context import PlannerContext, PlannerSettings
from controller.planner.graph.driver import IncidentDriver, TickView
from controller.planner.graph.runner import Checkpointer, PlannerRunner
from controller.planner.runbook.catalog import Runbook
from controller.ports import (
    ApprovalChannel,
    ApprovalInbox,
    Clock,
    ClusterReader,
    ClusterWriter,
    FleetMember,
    FleetSource,
    HealthReporter,
    KillSwitch,
    LedgerSink,
    MetricsSource,
    PlanProposer,
    TraceSource,
)
from controller.settings import Settings
from controller.state.history import StoredHistory
from controller.state.store import StateStore

log = structlog.get_logger("aiops.loop")
tracer = trace.get_tracer("aiops.controller")
Windows = Mapping[str, Mapping[Signal, SignalWindow]]
TOOL_EVENTS = 20
"""Newest events of the incident's workload the LLM's tools may read."""
TRACE_HISTORY = timedelta(minutes=30)
"""How much trace history localization looks at (first rise along the call graph)."""
ToolsFor = Callable[[ProposalRequest], ToolsData]
ProposerFactory = Callable[[ToolsFor], PlanProposer]


@dataclass(frozen=True, slots=True)
class LoopPorts:
    """Every side effect the loop and its planner may have, as ports."""

    clock: Clock
    fleet: FleetSource
    metrics: MetricsSource
    traces: TraceSource | None
    health: Sequence[HealthReporter]
    reader: ClusterReader
    writer: ClusterWriter
    kill_switch: KillSwitch
    approvals: ApprovalChannel
    inbox: ApprovalInbox
    ledger: LedgerSink
    store: StateStore


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """What the loop decides with: policy, runbooks, settings and an optional LLM planner."""

    policy: LoadedPolicy
    runbooks: Sequence[Runbook]
    settings: Settings
    proposer: ProposerFactory | None = None
    open_loop: bool = False
    """Replay: metrics cannot react to our actions, so verification never reverts."""
    approvers: frozenset[str] | None = None


@dataclass(slots=True)
class Seen:
    """What the last tick saw: the planner's tools and the report read it."""

    windows: Windows = field(default_factory=dict)
    traces: list[TraceSnapshot] = field(default_factory=list)


class ControlLoop:
    """Observe, detect, decide the mode, localize, record; planning goes to ``Planning``."""

    def __init__(self, ports: LoopPorts, config: LoopConfig) -> None:
        self.ports = ports
        self.config = config
        self.state = DetectionState.empty()
        self.mode: ModeDecision | None = None
        self.seen = Seen()
        self.proposer = None if config.proposer is None else config.proposer(self.tools_data)

    # -- wiring the planner (called by the planning executor, on its thread) -------------

    def planner_context(self) -> PlannerContext:
        """The planner graph's ports and settings, built from this loop's ports."""
        ports, config = self.ports, self.config
        return PlannerContext(
            runbooks=config.runbooks,
            policy=config.policy,
            reader=ports.reader,
            metrics=ports.metrics,
            executor=Actuator(
                reader=ports.reader, writer=ports.writer, kill_switch=ports.kill_switch
            ),
            ledger=ports.ledger,
            clock=ports.clock,
            history=StoredHistory(ports.store),
            proposer=self.proposer,
            settings=PlannerSettings(
                approval_ttl=config.settings.approvals.ttl,
                approvers=config.approvers,
                open_loop=config.open_loop,
            ),
        )

    def make_driver(self, checkpointer: Checkpointer) -> IncidentDriver:
        """The incident driver over a graph kept in ``checkpointer``."""
        runner = PlannerRunner(build_graph(checkpointer), self.planner_context())
        return IncidentDriver(
            runner=runner,
            approvals=self.ports.approvals,
            inbox=self.ports.inbox,
            store=self.ports.store,
        )

    # -- one tick ------------------------------------------------------------------------

    def tick(self, now: datetime) -> tuple[TickView, tuple[Incident, ...]]:
        """Run one tick at ``now``; returns the view and the incidents to plan."""
        members = self.ports.fleet.members(now)
        refs = [m.ref for m in members]
        with tracer.start_as_current_span("observe"):
            windows = self.ports.metrics.observe(refs, now)
            self.seen.windows = windows
            self._observe_traces(now)
        with tracer.start_as_current_span("detect"):
            views = self._views(refs, windows, now)
            outcome = detect(views, self.state, self.config.settings.detection, now)
        self.state = outcome.state
        mode = self._update_mode(windows, outcome, now)
        with tracer.start_as_current_span("localize"):
            outcome = self._localize(outcome, members, now)
        self._record_detection(outcome, now)
        view = TickView(
            now=now,
            open_incidents={i.id: i for i in outcome.open},
            blind=frozenset(s.workload.key for s in outcome.blind),
            mode=mode,
        )
        return view, (*outcome.opened, *outcome.updated)

    def _views(
        self, refs: Sequence[WorkloadRef], windows: Windows, now: datetime
    ) -> list[WorkloadView]:
        views = []
        for ref in refs:
            live = self.ports.reader.get_workload(ref)
            if live is None:
                continue
            views.append(
                WorkloadView(
                    inventory=live.inventory,
                    windows=windows.get(ref.key, {}),
                    events=self.ports.reader.events(ref, now),
                )
            )
        return views

    def _observe_traces(self, now: datetime) -> None:
        if self.ports.traces is None:
            return
        history = [*self.seen.traces, self.ports.traces.snapshot(now)]
        horizon = now - TRACE_HISTORY
        self.seen.traces = [s for s in history if s.at >= horizon]

    def _update_mode(self, windows: Windows, outcome: DetectionOutcome, now: datetime) -> Mode:
        settings = self.config.settings.modes
        fleet: FleetSignal = fleet_anomaly(windows, outcome, settings, now)
        if isinstance(self.ports.kill_switch, FreezeGate):  # one freeze path (R7, R14)
            fleet = self.ports.kill_switch.compose(fleet)
        sources = [reporter.health(now) for reporter in self.ports.health]
        decision = next_mode(self.mode, sources, fleet, now, settings)
        first = self.mode is None
        self.mode = decision
        if decision.entered is not None and not (first and decision.state.mode is Mode.NORMAL):
            self.ports.ledger.append(now, EntryType.MODE, decision.state.model_dump(mode="json"))
            log.warning("mode changed", mode=decision.state.mode.value)
        return decision.state.mode

    def _localize(
        self, outcome: DetectionOutcome, fleet: Sequence[FleetMember], now: datetime
    ) -> DetectionOutcome:
        """Attach the root-cause ranking to incidents that are new or re-diagnosed."""
        if not outcome.opened and not outcome.updated:
            return outcome
        events = {m.ref.key: self.ports.reader.events(m.ref, now) for m in fleet}
        ranking = rank_root_causes(
            outcome.open,
            self.seen.traces,
            {m.ref.key: m.service_name for m in fleet},
            events,
            now,
            change_window=self.config.settings.detection.change_window,
        )

        def ranked(incidents: tuple[Incident, ...]) -> tuple[Incident, ...]:
            return tuple(with_candidates(i, ranking.get(i.id, ())) for i in incidents)

        return replace(
            outcome,
            opened=ranked(outcome.opened),
            updated=ranked(outcome.updated),
            open=ranked(outcome.open),
        )

    def _record_detection(self, outcome: DetectionOutcome, now: datetime) -> None:
        ledger = self.ports.ledger
        for spot in outcome.newly_blind:
            ledger.append(now, EntryType.BLIND, spot.model_dump(mode="json"))
        for ref in outcome.sight_restored:
            payload = SightRestored(workload=ref, restored=True).model_dump(mode="json")
            ledger.append(now, EntryType.BLIND, payload)
        for incident in outcome.opened:
            self._detection(incident, now, updated=False)
        for incident in outcome.updated:
            self._detection(incident, now, updated=True)
        for incident in outcome.resolved:
            payload = ResolvedPayload(workload=incident.workload).model_dump(mode="json")
            ledger.append(now, EntryType.RESOLVED, payload, incident_id=incident.id)

    def _detection(self, incident: Incident, now: datetime, *, updated: bool) -> None:
        payload = DetectionPayload(updated=updated, incident=incident).model_dump(mode="json")
        self.ports.ledger.append(now, EntryType.DETECTION, payload, incident_id=incident.id)

    # -- what the LLM's read-only tools see ----------------------------------------------

    def tools_data(self, request: ProposalRequest) -> ToolsData:
        """This tick's observations, nothing later; inventories as they are right now."""
        inventories: dict[str, WorkloadInventory] = {}
        for member in self.ports.fleet.members(request.now):
            live = self.ports.reader.get_workload(member.ref)
            if live is not None:
                inventories[member.ref.key] = live.inventory
        events: tuple[ClusterEvent, ...] = self.ports.reader.events(
            request.incident.workload, request.now
        )
        return ToolsData(
            windows=self.seen.windows,
            inventories=inventories,
            traces=self.seen.traces[-1] if self.seen.traces else None,
            telemetry=Telemetry(events=events[-TOOL_EVENTS:]),
            runbooks=tuple(self.config.runbooks),
        )
