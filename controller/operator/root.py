"""``aiops run``'s composition root: the control loop over live sources, started and stopped.

``Operator`` picks every concrete (nothing else wires parts together, as for replay):

- sources: ``PrometheusMetrics`` (session answers counted), the OTLP receiver's
  ``TraceAggregator`` (its app mounted on the one HTTP server), the watch cache as
  ``ClusterReader`` (``KubeObserver``) and ``FleetSource`` (``KubeFleet``);
- sinks: ``ShadowWriter`` in shadow mode, else ``KubeWriter`` behind the leader gate; the
  resumed, fsynced ``LedgerWriter`` (HMAC key when given) under ``MeteredLedger`` and the
  ledger tap; the ``SqliteStateStore`` and the graph's SQLite checkpointer in
  ``operator.state_dir``; ``BackgroundPlanning`` (planning never stalls the tick);
- plug-ins (``PlugIns``): the kill switch factory, leadership, the approval channel.

``run(stop)`` starts in dependency order, ticks on the wall-clock grid until ``stop`` is set
(SIGTERM/SIGINT in the CLI), then shuts down within ``operator.grace_period``: stop taking
work, let the planner finish what is in flight (the act node's write runs to its end or the
task is abandoned to its checkpoint before it starts one: never half a step), seal the
ledger, write the open incidents' files, then stop the server and the cache.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import structlog
from opentelemetry import trace

from controller import __version__
from controller.errors import PermanentError, TemporaryError
from controller.kube import KubeObserver, KubeWriter, ShadowWriter, WatchCache
from controller.kube.event_writer import KubeEventSink
from controller.ledger import LedgerWriter
from controller.loop import ControlLoop, LoopConfig, LoopPorts, ToolsFor
from controller.metrics import ControllerMetrics, MeteredLedger, OperatorMetrics
from controller.models.actions import ScalingAdapter
from controller.observers.traces import TraceAggregator, create_app
from controller.operator.archive import IncidentArchiver
from controller.operator.events import LedgerEvents, QueuedEvents
from controller.operator.fleet import KubeFleet
from controller.operator.http import HttpServer, Probes
from controller.operator.http import create_app as create_http_app
from controller.operator.journal import (
    IncidentJournal,
    IncidentRecord,
    KeptExchanges,
    TappedLedger,
)
from controller.operator.modes import OperatorMode
from controller.operator.outbound import counting_kube_client, counting_prometheus
from controller.operator.ports import (
    AlwaysLeader,
    FenceLeadership,
    Leadership,
    PlugIns,
    PostedApprovals,
    Service,
)
from controller.operator.reload import LiveSequence, Reloader, Watched, folder_fingerprint
from controller.operator.scheduler import TickScheduler
from controller.operator.wiring import (
    LeaderGatedWriter,
    WallClock,
    load_runbook_folder,
    policy_loader,
    tune_gc,
)
from controller.planner.claude.budget import TokenBudget
from controller.planner.graph.build import PlannerGraph, build_graph
from controller.planner.graph.driver import IncidentDriver
from controller.planner.graph.runner import (
    Checkpointer,
    PlannerRunner,
    sqlite_checkpointer,
)
from controller.planning import BackgroundPlanning
from controller.ports import ClusterWriter, Fence, HealthReporter, PlanProposer
from controller.runtime import untune_collector
from controller.settings import Settings
from controller.state.inbox import StoredInbox
from controller.state.store import SqliteStateStore

log = structlog.get_logger("aiops.operator")
tracer = trace.get_tracer("aiops.controller")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything ``aiops run`` decided before the operator starts (flags, env, files)."""

    mode: OperatorMode
    settings: Settings
    policy: Path
    runbooks: Path
    ledger_key: bytes | None = None
    anthropic_key: str | None = None
    kube_host: str | None = None
    """An explicit API server URL (port-forwards, tests); None: kubeconfig or in-cluster."""
    pod: str | None = None
    instance: str = ""


class Operator:
    """The live operator: build with options (and plug-ins), then ``run(stop)``."""

    def __init__(self, options: RunOptions, plugins: PlugIns | None = None) -> None:
        self.options = options
        self.plugins = plugins or PlugIns()
        self.settings = options.settings
        self.mode = options.mode
        self.clock = WallClock()
        self.fence: Fence | None = None
        self.leadership: Leadership = self.plugins.leadership or AlwaysLeader()
        self.controller_metrics = ControllerMetrics()
        self.metrics = OperatorMetrics(self.controller_metrics.registry)
        self.metrics.set_mode(self.mode.value)
        self.stop = threading.Event()
        self._last_tick: float | None = None
        self._alive = False
        self._planning_started = False
        self._graph_parts: tuple[PlannerGraph, IncidentDriver] | None = None
        self._load_config()

    # -- building -----------------------------------------------------------------------

    def _load_config(self) -> None:
        """Policy and runbooks first: a bad file stops ``aiops run`` before anything runs."""
        self.policy = Watched(
            "policy", self.options.policy, policy_loader(self.mode),
            on_reload=self._reloaded, on_failure=self._reload_failed,
        )  # fmt: skip
        self.runbooks = Watched(
            "runbooks", self.options.runbooks, load_runbook_folder,
            fingerprint=folder_fingerprint, on_reload=self._reloaded,
            on_failure=self._reload_failed,
        )  # fmt: skip
        every = self.settings.operator.reload_every.total_seconds()
        self.reloader = Reloader([self.policy, self.runbooks], every=every)

    def _count(self, dependency: str, status: str) -> None:
        self.metrics.outbound.labels(dependency, status).inc()

    def _build(self) -> None:
        settings, op = self.settings, self.settings.operator
        state = op.state_dir
        self.api = counting_kube_client(settings.kube, self._count, host=self.options.kube_host)
        if self.plugins.fence is not None:
            self.fence = self.plugins.fence(self.api)
            if self.plugins.leadership is None:
                self.leadership = FenceLeadership(self.fence)
        self.cache = WatchCache(self.api, settings.kube)
        self.observer = KubeObserver(self.cache, self.api)
        sink = KubeEventSink(
            self.api, settings=settings.kube, namespace=op.namespace,
            instance=self.options.instance, pod=self.options.pod,
            on_result=lambda ok: self.metrics.events.labels("sent" if ok else "failed").inc(),
        )  # fmt: skip
        self.events = QueuedEvents(
            sink, on_dropped=lambda: self.metrics.events.labels("dropped").inc()
        )
        self.prometheus = counting_prometheus(
            settings.prometheus, self._count, stale_after=settings.modes.metrics_stale_after
        )
        retention = op.incident_lookback + timedelta(minutes=30)
        self.traces = TraceAggregator(
            settings.traces, self.clock, stale_after=settings.modes.traces_stale_after,
            retention=retention,
        )  # fmt: skip
        self.store = SqliteStateStore(state / "state.sqlite")
        self.inbox = StoredInbox(self.store)
        self.ledger_writer = LedgerWriter(
            state / "ledger.jsonl", key=self.options.ledger_key, resume=True
        )
        self.ledger_writer.open()
        self.journal = IncidentJournal(f"aiops-controller:{self.mode.value}", self._closed)
        self.ledger = TappedLedger(
            MeteredLedger(self.ledger_writer, self.controller_metrics),
            [self.journal.observe, LedgerEvents(self.events, self.mode.value)],
        )
        self.archiver = IncidentArchiver(
            op.incident_dir or state / "incidents",
            metrics=self.prometheus, cluster=self.observer, traces=self.traces.history,
            trace_settings=settings.traces, step=settings.prometheus.step,
            lookback=op.incident_lookback, clock=self.clock.now,
            on_result=lambda outcome: self.metrics.incident_files.labels(outcome).inc(),
        )  # fmt: skip
        approvals = self.plugins.approvals or PostedApprovals
        health: tuple[HealthReporter, ...] = (self.prometheus, self.observer, self.traces)
        ports = LoopPorts(
            clock=self.clock,
            fleet=KubeFleet(self.observer),
            metrics=self.prometheus,
            traces=self.traces,
            health=health,
            reader=self.observer,
            writer=self._writer(),
            kill_switch=self.plugins.kill_switch(self.api),
            approvals=approvals(self.inbox, self.events),
            inbox=self.inbox,
            ledger=self.ledger,
            store=self.store,
        )
        config = LoopConfig(
            policy=self.policy.current,
            runbooks=LiveSequence(lambda: self.runbooks.current),
            settings=settings,
            proposer=self._proposer if settings.llm.enabled else None,
        )
        self.loop = ControlLoop(ports, config)
        checkpoints = state / "checkpoints.sqlite"
        self.planning = BackgroundPlanning(
            self._make_driver, lambda: sqlite_checkpointer(checkpoints), self.ledger
        )
        self.http = HttpServer(
            create_http_app(self._probes(), self.controller_metrics.exposition,
                            otlp=create_app(self.traces, settings.traces, self.clock)),
            host=op.host, port=op.port, limits=settings.traces,
            note=self.traces.note_rejected_request,
        )  # fmt: skip

    def _writer(self) -> ClusterWriter:
        kube = self.settings.kube
        adapters = self._scaling_adapters  # read at every decision: reloads apply at once
        if self.mode is OperatorMode.SHADOW:
            return ShadowWriter(self.api, settings=kube, adapters=adapters)
        writer = KubeWriter(self.api, settings=kube, fence=self.fence, adapters=adapters)
        return LeaderGatedWriter(writer, self.leadership)

    def _scaling_adapters(self) -> frozenset[ScalingAdapter]:
        """The KEDA / Argo Rollouts adapters the active policy allows (``spec.scaling``)."""
        return frozenset(self.policy.current.policy.spec.scaling.adapters)

    def _proposer(self, tools: ToolsFor) -> PlanProposer:
        from controller.planner.claude.client import build_claude_planner  # the SDK: lazily

        planner = build_claude_planner(
            self.settings.llm, self.options.anthropic_key,
            runbooks=LiveSequence(lambda: self.runbooks.current), tools_data=tools,
            clock=self.clock, budget=TokenBudget.from_settings(self.settings.llm, self.store),
        )  # fmt: skip
        return KeptExchanges(planner, self.journal)

    def _make_driver(self, checkpointer: Checkpointer) -> IncidentDriver:
        """The loop's driver, keeping the graph so a policy reload can swap the runner."""
        graph = build_graph(checkpointer)
        driver = IncidentDriver(
            runner=PlannerRunner(graph, self.loop.planner_context()),
            approvals=self.loop.ports.approvals,
            inbox=self.inbox,
            store=self.store,
        )
        self._graph_parts = (graph, driver)
        return driver

    def _probes(self) -> Probes:
        op = self.settings.operator
        max_age = op.ready_tick_age or op.tick_interval * 3
        return Probes(
            alive=lambda: self._alive,
            synced=self.cache.synced,
            leader=self.leadership.is_leader,
            tick_age=self.tick_age,
            max_tick_age=max_age.total_seconds(),
            mode=self.mode.value,
            on_ready=lambda ready: self.metrics.ready.set(1.0 if ready else 0.0),
        )

    def tick_age(self) -> float | None:
        """Seconds since the last successful tick ended (None before the first)."""
        last = self._last_tick
        return None if last is None else time.monotonic() - last

    # -- reload hooks --------------------------------------------------------------------

    def _reloaded(self, kind: str) -> None:
        self.metrics.reloads.labels(kind).inc()
        loop = getattr(self, "loop", None)
        if loop is None or kind != "policy":
            return  # runbooks are a live view: nothing to swap
        loop.config = replace(loop.config, policy=self.policy.current)
        if self._graph_parts is not None:
            graph, driver = self._graph_parts
            # One attribute swap (atomic): graph steps from now on judge by the new policy.
            driver.runner = PlannerRunner(graph, loop.planner_context())

    def _reload_failed(self, kind: str, reason: str) -> None:
        self.metrics.reload_failures.labels(kind).inc()
        events = getattr(self, "events", None)
        if events is not None:
            message = f"bad {kind} edit refused, last good version kept: {reason}"
            events.emit("ConfigReloadFailed", message, warning=True)

    def _closed(self, record: IncidentRecord) -> None:
        self.archiver.submit(record)

    # -- running -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> int:
        """Start, tick until ``stop`` is set, shut down; the process exit status."""
        if stop is not None:
            self.stop = stop
        self._build()
        try:
            self._start()
            if not self.stop.is_set():
                self._serve()
        finally:
            self._shutdown()
        return 0

    def _start(self) -> None:
        op = self.settings.operator
        self.http.start()
        log.info("operator starting", mode=self.mode.value, version=__version__,
                 port=self.http.port, state_dir=str(op.state_dir))  # fmt: skip
        self.cache.start()
        if isinstance(self.fence, Service):
            self.fence.start()
        deadline = time.monotonic() + op.sync_timeout.total_seconds()
        while not self.cache.synced() and time.monotonic() < deadline:
            if self.stop.wait(0.05):
                return
        if not self.cache.synced():
            log.warning("kubernetes cache not synced at start; ticks fail closed until it is",
                        unsynced=sorted(self.cache.unsynced()))  # fmt: skip
        try:
            self.planning.start()
            self._planning_started = True
        except RuntimeError as exc:  # the checkpointer could not open: a start-up failure
            raise PermanentError(f"planning did not start: {exc}") from exc
        self.metrics.leader.set(1.0 if self.leadership.is_leader() else 0.0)
        self.events.emit(
            "OperatorStarted",
            f"aiops-controller {__version__} started in {self.mode.value} mode "
            f"(policy {self.policy.current.name} {self.policy.current.hash[:12]}, "
            f"{len(self.runbooks.current)} runbooks)",
        )
        log.warning("operator started", mode=self.mode.value, port=self.http.port,
                    synced=self.cache.synced(), leader=self.leadership.is_leader())  # fmt: skip
        self._gc_before = tune_gc()
        self._alive = True

    def _serve(self) -> None:
        interval = self.settings.operator.tick_interval.total_seconds()
        scheduler = TickScheduler(
            interval, stop=self.stop, on_skip=lambda n: self.metrics.ticks_skipped.inc(n)
        )
        scheduler.run(self._tick)

    def _tick(self) -> None:
        """One tick: reload, observe/detect/record, hand planning off; never raises."""
        started = time.monotonic()
        leader = self.leadership.is_leader()
        self.metrics.leader.set(1.0 if leader else 0.0)
        with tracer.start_as_current_span("tick", attributes={"aiops.mode": self.mode.value}):
            if self.settings.operator.reload:
                self.reloader.poll()
            now = self.clock.now()
            try:
                view, incidents = self.loop.tick(now)
                if leader and not self.stop.is_set():
                    with tracer.start_as_current_span("plan"):
                        self.planning.submit(view, incidents)
            except TemporaryError as exc:  # blind cache, unreachable dependency: fail closed
                self.metrics.tick_failures.inc()
                log.warning("tick failed", error=str(exc))
            except Exception as exc:  # a bug must not end the operator; it is counted
                self.metrics.tick_failures.inc()
                log.exception("tick crashed", error=str(exc))
            else:
                self._last_tick = time.monotonic()
                self.metrics.last_tick.set(time.time())
        self._observe_health()
        self.metrics.queue_depth.set(self.planning.depth())
        self.metrics.tick_duration.observe(time.monotonic() - started)

    def _observe_health(self) -> None:
        now = self.clock.now()
        for reporter in self.loop.ports.health:
            health = reporter.health(now)
            last = health.last_success
            age = float("inf") if last is None else (now - last).total_seconds()
            self.metrics.staleness.labels(health.source).set(age)
            self.metrics.source_ok.labels(health.source).set(1.0 if health.ok else 0.0)

    # -- stopping ------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Within the grace period: planning, the ledger's seal, incident files, the rest."""
        grace = self.settings.operator.grace_period.total_seconds()
        deadline = time.monotonic() + grace
        self.stop.set()
        log.warning("operator stopping", grace_seconds=grace)

        def left(share: float = 1.0) -> float:
            return max(0.0, (deadline - time.monotonic()) * share)

        planning = getattr(self, "planning", None)
        if planning is not None and self._planning_started:
            if not planning.settle(left(0.4)):
                log.warning("planning abandoned to its checkpoints", depth=planning.depth())
            planning.close(timeout=left(0.25))
        writer = getattr(self, "ledger_writer", None)
        if writer is not None:
            writer.close()
            log.warning("ledger sealed", path=str(writer.path), entries=writer.entries)
        if isinstance(self.fence, Service):
            self.fence.stop(min(2.0, left(0.3)))  # no write can follow: release the lease
        archiver = getattr(self, "archiver", None)
        if archiver is not None:
            archiver.drain(self.journal.open_records(), timeout=left(0.5))
        events = getattr(self, "events", None)
        if events is not None:
            if self._alive:
                message = f"aiops-controller stopped ({self.mode.value} mode)"
                events.emit("OperatorStopped", message)
            events.close(min(2.0, left(0.5)))
        self._alive = False
        for name, stop in self._stoppers(left):
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                log.error("stop failed", part=name, error=str(exc))
        gc_before = getattr(self, "_gc_before", None)
        if gc_before is not None:  # an operator run in-process (aiops demo, tests) leaves
            untune_collector(gc_before)  # the collector as it found it
        log.warning("operator stopped", seconds_left=round(left(), 2))

    def _stoppers(self, left: Callable[[float], float]) -> list[tuple[str, Callable[[], object]]]:
        parts: list[tuple[str, Callable[[], object]]] = []
        if hasattr(self, "http"):
            parts.append(("http", lambda: self.http.stop(min(2.0, left(0.5)))))
        if hasattr(self, "cache"):
            parts.append(("cache", lambda: self.cache.stop(timeout=min(2.0, left(0.5)))))
        for name in ("prometheus", "store", "api"):
            part = getattr(self, name, None)
            if part is not None:
                parts.append((name, part.close))
        return parts


def instance_name(pod: str | None) -> str:
    """Who this replica is in Events and logs: the pod name, else host and pid."""
    return pod or f"{socket.gethostname()}-{os.getpid()}"
