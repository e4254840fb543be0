"""``aiops replay``'s composition root: the control loop over a recorded incident.

A simulated clock steps through the file's window; each tick runs the same ``ControlLoop``
as the live operator, with recorded sources (metrics never past ``now``, traces, a fleet and
cluster simulated from the file), an in-memory state store and the planner inline, so the run
is deterministic. Metrics do not react to the replayed actions (open loop): verification
judges what the recording shows and never reverts.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from opentelemetry import trace
from rich.console import Console

from controller.approvals.console import ConsoleApprover
from controller.approvals.scripted import DenyAll, GrantAll, RecordedApprovals
from controller.loop import ControlLoop, LoopConfig, LoopPorts, ToolsFor
from controller.metrics import ControllerMetrics, MeteredLedger
from controller.models.incident import Incident
from controller.models.incident_file import IncidentFile, LlmExchange
from controller.models.proposals import ProposalOutcome, ProposalRequest
from controller.observers.recorded import RecordedMetrics
from controller.observers.recorded_traces import RecordedTraces
from controller.planner.graph.runner import memory_checkpointer
from controller.planning import InlinePlanning, Planning
from controller.ports import (
    ApprovalChannel,
    ApprovalInbox,
    HealthReporter,
    LedgerSink,
    PlanProposer,
)
from controller.replay.chart_series import chart_series, verified_signals
from controller.replay.comparison import compare_decisions
from controller.replay.inputs import ApprovalsMode, ReplayInputs, tick_interval
from controller.replay.recorder import Recorder
from controller.replay.result import ReplayResult, ReplayRun, llm_summary
from controller.replay.scoring import score_replay
from controller.sim.fakes import SimulatedClock, SimulatedCluster, StaticKillSwitch
from controller.sim.fleet import RecordedFleet, RecordedSource
from controller.state.inbox import StoredInbox
from controller.state.store import InMemoryStateStore

log = structlog.get_logger("aiops.replay")
tracer = trace.get_tracer("aiops.controller")
SETTLE_TIMEOUT = 300.0
"""Seconds a replay tick waits for its planning (only a background planner can take long)."""


def _approver(inputs: ReplayInputs, clock: SimulatedClock, inbox: ApprovalInbox) -> ApprovalChannel:
    if inputs.approvals is ApprovalsMode.INTERACTIVE:
        # A person answers at the terminal; no answer (EOF, e.g. no TTY) is a rejection.
        return ConsoleApprover(
            console=Console(stderr=True),
            read=input,
            user=getpass.getuser(),
            clock=clock,
            inbox=inbox,
        )
    if inputs.approvals is ApprovalsMode.RECORDED:
        return RecordedApprovals(inputs.incident.recorded.approvals, inbox)
    if inputs.approvals is ApprovalsMode.DENY:
        return DenyAll(inbox)
    return GrantAll(inbox)


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

    def __init__(
        self,
        inputs: ReplayInputs,
        ledger: LedgerSink,
        planning: Callable[[ControlLoop, LedgerSink], Planning] | None = None,
    ) -> None:
        self.inputs = inputs
        incident = inputs.incident
        self.clock = SimulatedClock(incident.window.start)
        self.cluster = SimulatedCluster.from_incident(incident)
        self.controller_metrics = ControllerMetrics()
        self.recorder = Recorder(MeteredLedger(ledger, self.controller_metrics))
        self.kept: KeptOutcomes | None = None
        store = InMemoryStateStore()
        inbox = StoredInbox(store)
        traces = RecordedTraces(incident)
        health: list[HealthReporter] = [RecordedSource("prometheus"), RecordedSource("kubernetes")]
        if traces.recorded:
            health.append(traces)
        ports = LoopPorts(
            clock=self.clock,
            fleet=RecordedFleet(incident),
            metrics=RecordedMetrics(incident),
            traces=traces if traces.recorded else None,
            health=tuple(health),
            reader=self.cluster,
            writer=self.cluster,
            kill_switch=StaticKillSwitch(),
            approvals=_approver(inputs, self.clock, inbox),
            inbox=inbox,
            ledger=self.recorder,
            store=store,
        )
        config = LoopConfig(
            policy=inputs.policy,
            runbooks=inputs.runbooks,
            settings=inputs.settings,
            proposer=None if inputs.proposer_factory is None else self._keep_outcomes,
            open_loop=True,
        )
        self.loop = ControlLoop(ports, config)
        self.planning = (
            InlinePlanning(self.loop.make_driver, memory_checkpointer)
            if planning is None
            else planning(self.loop, self.recorder)
        )

    def _keep_outcomes(self, tools: ToolsFor) -> PlanProposer:
        factory = self.inputs.proposer_factory
        assert factory is not None  # only called when the inputs name a proposer
        self.kept = KeptOutcomes(factory(tools, self.clock))
        return self.kept

    def run(self) -> ReplayResult:
        """Step through every tick of the incident window."""
        self.planning.start()
        try:
            with tracer.start_as_current_span("replay"):
                for now in _ticks(self.inputs.incident, tick_interval(self.inputs)):
                    self._tick(now)
        finally:
            self.planning.close()
        return self._result()

    def _tick(self, now: datetime) -> None:
        self.clock.set(now)
        self.cluster.advance_to(now)
        view, incidents = self.loop.tick(now)
        with tracer.start_as_current_span("plan"):
            self.planning.submit(view, incidents)
            # A replay tick ends when its planning has: simulated time may not run ahead.
            if not self.planning.settle(SETTLE_TIMEOUT):
                raise RuntimeError(f"planning did not settle within {SETTLE_TIMEOUT:.0f} s")

    def recorded_exchanges(self) -> tuple[LlmExchange, ...]:
        """Every LLM round trip of this replay, for ``--record-to``."""
        outcomes = () if self.kept is None else self.kept.outcomes
        return tuple(e for o in outcomes for e in o.exchanges)

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
            charts=chart_series(
                inputs.incident,
                incidents,
                inputs.settings.detection,
                verified=verified_signals(rec.verifications, rec.actions),
            ),
            llm=None if inputs.proposer_factory is None else llm_summary(rec.planner_outcomes),
        )


def run_replay(inputs: ReplayInputs, ledger: LedgerSink) -> ReplayResult:
    """Replay ``inputs`` writing every decision to ``ledger``."""
    log.info(
        "replay started", incident=inputs.incident.metadata.name, approvals=inputs.approvals.value
    )
    return ReplayEngine(inputs, ledger).run()
