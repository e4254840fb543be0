"""``aiops replay``: step a simulated clock through an incident file and run the live code.

Each tick observes the recorded series (never past ``now``), runs detection, and hands new
or re-diagnosed incidents to the planner graph through the same ``IncidentDriver`` the live
loop uses (runbook planner in shadow, optional LLM planner, guardrails, approvals, the
reconciling actuator against a simulated cluster, verification). Metrics do not react to the
replayed actions (open loop): verification judges what the recording shows and never reverts.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import structlog
from opentelemetry import trace
from rich.console import Console

from controller.actuators.reconcile import Actuator
from controller.approvals.console import ConsoleApprover
from controller.approvals.scripted import DenyAll, GrantAll, RecordedApprovals
from controller.detection import DetectionOutcome, DetectionState, WorkloadView, detect
from controller.detection.fleet import fleet_anomaly
from controller.detection.localize import rank_root_causes, with_candidates
from controller.metrics import ControllerMetrics, MeteredLedger
from controller.models.incident import Incident
from controller.models.incident_file import IncidentFile, LlmExchange
from controller.models.modes import Mode, SourceHealth
from controller.models.proposals import ProposalOutcome, ProposalRequest
from controller.models.signals import Signal, SignalWindow
from controller.models.traces import TraceSnapshot
from controller.observers.freshness import ModeDecision, next_mode
from controller.observers.recorded import RecordedMetrics
from controller.observers.recorded_traces import RecordedTraces
from controller.planner.claude.prompts import Telemetry
from controller.planner.claude.tools import ToolsData
from controller.planner.graph.context import InMemoryHistory, PlannerContext, PlannerSettings
from controller.planner.graph.driver import IncidentDriver, TickView
from controller.planner.graph.runner import memory_runner
from controller.ports import ApprovalChannel, LedgerSink, PlanProposer
from controller.replay.chart_series import chart_series
from controller.replay.comparison import compare_decisions
from controller.replay.inputs import (
    ApprovalsMode,
    ReplayInputs,
    tick_interval,
)
from controller.replay.recorder import Recorder
from controller.replay.result import ReplayResult, ReplayRun, llm_summary
from controller.replay.scoring import score_replay
from controller.sim.fakes import SimulatedClock, SimulatedCluster, StaticKillSwitch

log = structlog.get_logger("aiops.replay")
TOOL_EVENTS = 20
"""Newest events of the incident's workload the LLM's tools may read."""
TRACE_HISTORY = timedelta(minutes=30)
"""How much trace history localization looks at (first rise along the call graph)."""
tracer = trace.get_tracer("aiops.controller")
Windows = Mapping[str, Mapping[Signal, SignalWindow]]


def _approver(inputs: ReplayInputs, clock: SimulatedClock) -> ApprovalChannel:
    if inputs.approvals is ApprovalsMode.INTERACTIVE:
        # A person answers at the terminal; no answer (EOF, e.g. no TTY) is a rejection.
        return ConsoleApprover(
            console=Console(stderr=True), read=input, user=getpass.getuser(), clock=clock
        )
    if inputs.approvals is ApprovalsMode.RECORDED:
        return RecordedApprovals(inputs.incident.recorded.approvals)
    if inputs.approvals is ApprovalsMode.DENY:
        return DenyAll()
    return GrantAll()


def _ticks(incident: IncidentFile, step: timedelta) -> list[datetime]:
    times, now = [], incident.window.start + step
    while now <= incident.window.end:
        times.append(now)
        now += step
    return times


class KeptOutcomes:
    """A ``PlanProposer`` that keeps every outcome with its exchanges (for ``--record-to``;
    the ledger keeps the outcome without them)."""

    def __init__(self, inner: PlanProposer) -> None:
        self.inner = inner
        self.outcomes: list[ProposalOutcome] = []

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        """Ask ``inner`` and keep the answer."""
        outcome = self.inner.propose(request)
        self.outcomes.append(outcome)
        return outcome


class ReplayEngine:
    """One replay run; ``run`` returns the result after the last tick."""

    def __init__(self, inputs: ReplayInputs, ledger: LedgerSink) -> None:
        self.inputs = inputs
        self.clock = SimulatedClock(inputs.incident.window.start)
        self.cluster = SimulatedCluster.from_incident(inputs.incident)
        self.metrics = RecordedMetrics(inputs.incident)
        self.controller_metrics = ControllerMetrics()
        self.recorder = Recorder(MeteredLedger(ledger, self.controller_metrics))
        self.proposer = (
            None
            if inputs.proposer_factory is None
            else KeptOutcomes(inputs.proposer_factory(self._tools_data, self.clock))
        )
        context = PlannerContext(
            runbooks=inputs.runbooks,
            policy=inputs.policy,
            reader=self.cluster,
            metrics=self.metrics,
            executor=Actuator(
                reader=self.cluster, writer=self.cluster, kill_switch=StaticKillSwitch()
            ),
            ledger=self.recorder,
            clock=self.clock,
            history=InMemoryHistory(),
            proposer=self.proposer,
            settings=PlannerSettings(approval_ttl=inputs.settings.approvals.ttl, open_loop=True),
        )
        self.driver = IncidentDriver(
            runner=memory_runner(context),
            approvals=_approver(inputs, self.clock),
        )
        self.traces = RecordedTraces(inputs.incident)
        self.trace_history: list[TraceSnapshot] = []
        self.mode: ModeDecision | None = None
        self.state = DetectionState.empty()
        self.refs = [w.ref for w in inputs.incident.workloads]
        self.service_of = {w.ref.key: w.service_name for w in inputs.incident.workloads}
        self.latest_windows: Windows = {}

    def run(self) -> ReplayResult:
        """Step through every tick of the incident window."""
        return asyncio.run(self._run())

    async def _run(self) -> ReplayResult:
        with tracer.start_as_current_span("replay"):
            for now in _ticks(self.inputs.incident, tick_interval(self.inputs)):
                await self._tick(now)
        return self._result()

    def _views(self, windows: Windows, now: datetime) -> list[WorkloadView]:
        views = []
        for ref in self.refs:
            live = self.cluster.get_workload(ref)
            if live is not None:
                views.append(
                    WorkloadView(
                        inventory=live.inventory,
                        windows=windows[ref.key],
                        events=self.cluster.events(ref, now),
                    )
                )
        return views

    async def _tick(self, now: datetime) -> None:
        self.clock.set(now)
        self.cluster.advance_to(now)
        with tracer.start_as_current_span("observe"):
            windows = self.metrics.observe(self.refs, now)
            self.latest_windows = windows
            self._observe_traces(now)
        with tracer.start_as_current_span("detect"):
            outcome = detect(
                self._views(windows, now), self.state, self.inputs.settings.detection, now
            )
        self.state = outcome.state
        mode = self._update_mode(windows, outcome, now)
        outcome = self._localize(outcome, now)
        self._record_detection(outcome, now)
        view = TickView(
            now=now,
            open_incidents={i.id: i for i in outcome.open},
            blind=frozenset(s.workload.key for s in outcome.blind),
            mode=mode,
        )
        with tracer.start_as_current_span("plan"):
            await self.driver.tick(view)
            for incident in (*outcome.opened, *outcome.updated):
                await self.driver.on_incident(incident, view)

    def _tools_data(self, request: ProposalRequest) -> ToolsData:
        """What the LLM's read-only tools may see: this tick's observations, nothing later."""
        inventories = {}
        for ref in self.refs:
            live = self.cluster.get_workload(ref)
            if live is not None:
                inventories[ref.key] = live.inventory
        events = self.cluster.events(request.incident.workload, request.now)
        return ToolsData(
            windows=self.latest_windows,
            inventories=inventories,
            traces=self.trace_history[-1] if self.trace_history else None,
            telemetry=Telemetry(events=events[-TOOL_EVENTS:]),
            runbooks=self.inputs.runbooks,
        )

    def recorded_exchanges(self) -> tuple[LlmExchange, ...]:
        """Every LLM round trip of this replay, for ``--record-to``."""
        outcomes = () if self.proposer is None else self.proposer.outcomes
        return tuple(e for o in outcomes for e in o.exchanges)

    def _observe_traces(self, now: datetime) -> None:
        if not self.traces.recorded:
            return
        self.trace_history.append(self.traces.snapshot(now))
        horizon = now - TRACE_HISTORY
        self.trace_history = [s for s in self.trace_history if s.at >= horizon]

    def _sources(self, now: datetime) -> list[SourceHealth]:
        """Recorded metrics and inventory are always there; traces only if the file has them."""
        sources = [
            SourceHealth(source="prometheus", ok=True, last_success=now, detail="recorded"),
            SourceHealth(source="kubernetes", ok=True, last_success=now, detail="recorded"),
        ]
        if self.traces.recorded:
            sources.append(self.traces.health(now))
        return sources

    def _update_mode(self, windows: Windows, outcome: DetectionOutcome, now: datetime) -> Mode:
        fleet = fleet_anomaly(windows, outcome, self.inputs.settings.modes, now)
        decision = next_mode(self.mode, self._sources(now), fleet, now, self.inputs.settings.modes)
        first = self.mode is None
        self.mode = decision
        if decision.entered is not None and not (first and decision.state.mode is Mode.NORMAL):
            self.recorder.mode(decision.state, now)
        return decision.state.mode

    def _localize(self, outcome: DetectionOutcome, now: datetime) -> DetectionOutcome:
        """Attach the root-cause ranking to incidents that are new or re-diagnosed."""
        if not outcome.opened and not outcome.updated:
            return outcome
        events = {ref.key: self.cluster.events(ref, now) for ref in self.refs}
        ranking = rank_root_causes(
            outcome.open,
            self.trace_history,
            self.service_of,
            events,
            now,
            change_window=self.inputs.settings.detection.change_window,
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
        for spot in outcome.newly_blind:
            self.recorder.blind(spot, now)
        for ref in outcome.sight_restored:
            self.recorder.sight_restored(ref, now)
        for incident in outcome.opened:
            self.recorder.detection(incident, now)
        for incident in outcome.updated:
            self.recorder.detection(incident, now, updated=True)
        for incident in outcome.resolved:
            self.recorder.resolved(incident, now)

    def _reference_time(self, incidents: list[Incident]) -> datetime:
        truth = self.inputs.incident.ground_truth
        if truth is not None and truth.onset is not None:
            return truth.onset
        if incidents:
            return min(i.opened_at for i in incidents)
        return self.inputs.incident.window.start

    def _result(self) -> ReplayResult:
        inputs, rec = self.inputs, self.recorder
        incidents = sorted(rec.incidents.values(), key=lambda i: i.opened_at)
        truth = inputs.incident.ground_truth
        score = None if truth is None else score_replay(truth, incidents, rec.plans, rec.actions)
        return ReplayResult(
            name=inputs.incident.metadata.name,
            title=inputs.incident.metadata.title or inputs.incident.metadata.name,
            window_start=inputs.incident.window.start,
            window_end=inputs.incident.window.end,
            reference_time=self._reference_time(incidents),
            run=ReplayRun(
                incident_file=inputs.source,
                policy_name=inputs.policy.policy.metadata.name,
                policy_hash=inputs.policy.hash,
                runbooks=tuple(r.id for r in inputs.runbooks),
                approvals_mode=inputs.approvals.value,
                planner=inputs.planner.value,
                tick=tick_interval(inputs),
            ),
            timeline=tuple(sorted(rec.timeline, key=lambda e: e.at)),
            incidents=tuple(incidents),
            plans=tuple(rec.plans),
            decisions=tuple(rec.decisions),
            approvals=tuple(rec.approvals),
            actions=tuple(rec.actions),
            verifications=tuple(rec.verifications),
            blind_spots=tuple(rec.blind_spots),
            score=score,
            comparison=compare_decisions(inputs.incident.recorded, rec.actions),
            charts=chart_series(inputs.incident, incidents, inputs.settings.detection),
            llm=None if inputs.proposer_factory is None else llm_summary(rec.planner_outcomes),
        )


def run_replay(inputs: ReplayInputs, ledger: LedgerSink) -> ReplayResult:
    """Replay ``inputs`` writing every decision to ``ledger``."""
    log.info(
        "replay started", incident=inputs.incident.metadata.name, approvals=inputs.approvals.value
    )
    return ReplayEngine(inputs, ledger).run()
