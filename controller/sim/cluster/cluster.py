"""``SimulatedCluster``: the closed loop between the fake API's desired state and the metrics.

Each step (at most ``scenario.step`` of simulated time) it: rolls out due ``bad_deploy``
images through the store; reads every Deployment back and moves the pods towards it
(``WorkloadState.reconcile``); runs the HPA controller every ``hpa_sync``; then integrates
the counters at the rates of the model. So a scale, an HPA bound change, a rollback or a
restart written by the controller through the real Kubernetes client shows in the very next
step's rates, and in the next scrape.

The cluster never reads a clock: ``advance_to(when)`` moves it, and the time is
``start + offset``. It starts ``scenario.history`` before ``start``; ``advance_for_scrape``
fast-forwards that warm-up one ``warmup_step`` per scrape, so that Prometheus stores a
minute or more of healthy history within seconds (each warm-up sample carries its
simulated timestamp) and the default queries' ``rate()`` windows are full from the start.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.sim.cluster import kube
from controller.sim.cluster.spec import BadDeploy, Scenario, WorkloadSpec
from controller.sim.cluster.state import Rates, WorkloadState
from controller.sim.kube_api.server import FakeKubeApi

HPA_TOLERANCE = 0.1
"""The HPA controller leaves replicas alone within 10 % of its target (as upstream does)."""
MAX_STEPS = 1_000_000
"""Steps one ``advance_to`` may take: a clock gone wild fails loudly instead of spinning."""


@dataclass(frozen=True, slots=True)
class PodView:
    """One pod as the exposition shows it."""

    name: str
    replicaset: str
    image: str
    ready: bool
    cpu_seconds: float
    memory: float
    restarts: int


@dataclass(frozen=True, slots=True)
class WorkloadView:
    """One workload's counters, pods and rates at a moment (a copy: safe to read unlocked)."""

    spec: WorkloadSpec
    requests: dict[str, float]
    buckets: tuple[float, ...]
    latency_sum: float
    latency_count: float
    pods: tuple[PodView, ...]
    replicasets: dict[str, int]
    desired_replicas: int
    available: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class ClusterView:
    """Every workload at ``at``; ``stamped``: expose ``at`` as the samples' timestamp."""

    at: datetime
    workloads: tuple[WorkloadView, ...]
    stamped: bool = True


class SimulatedCluster:
    """Workloads stepped on simulated time, reading and writing the fake API's store."""

    def __init__(
        self,
        api: FakeKubeApi,
        scenario: Scenario,
        *,
        start: datetime,
        seed: bool = True,
        mirror_pods: bool = True,
    ) -> None:
        self.api = api
        self.scenario = scenario
        self.start = start
        self.lock = threading.RLock()
        self.offset = -scenario.history.total_seconds()
        self.states = {spec.key: WorkloadState(spec) for spec in scenario.workloads}
        self.deployed: set[int] = set()
        self._hpa_due = self.offset
        self._recommended: dict[str, list[tuple[float, int]]] = {}
        self.mirror_pods = mirror_pods
        self._mirrored: dict[str, dict[str, object]] = {key: {} for key in self.states}
        if seed:
            kube.seed(api, scenario)
        for state in self.states.values():
            state.reconcile(kube.read_desired(api, state.spec), self.offset)
        self._mirror()

    # ----- time -----

    @property
    def now(self) -> datetime:
        """The simulated time."""
        return self.start + timedelta(seconds=self.offset)

    def warming_up(self, wall: datetime) -> bool:
        """Whether the warm-up history still lags ``wall`` by more than one warm-up step."""
        with self.lock:
            return self.now < wall - self.scenario.warmup_step

    def advance_to(self, when: datetime) -> bool:
        """Step up to ``when`` (never back); True when time moved."""
        target = (when - self.start).total_seconds()
        step = self.scenario.step.total_seconds()
        with self.lock:
            if target <= self.offset:
                return False
            for _ in range(MAX_STEPS):
                end = min(target, self.offset + step)
                self._step(self.offset, end)
                self.offset = end
                if end >= target:
                    self._mirror()
                    return True
            raise RuntimeError(f"advance_to {when}: more than {MAX_STEPS} steps")

    def advance_for_scrape(self, wall: datetime) -> bool:
        """A scrape's move: one warm-up step while warming up, else up to ``wall``."""
        with self.lock:
            if self.warming_up(wall):
                return self.advance_to(self.now + self.scenario.warmup_step)
            return self.advance_to(wall)

    def advance_live(self, wall: datetime) -> bool:
        """A background tick's move: up to ``wall`` once warmed up (scrapes drive warm-up)."""
        with self.lock:
            if self.warming_up(wall):
                return False
            return self.advance_to(wall)

    # ----- one step -----

    def _step(self, start: float, end: float) -> None:
        self._deploy_due(start)
        for state in self.states.values():
            state.reconcile(kube.read_desired(self.api, state.spec), start)
        if start >= self._hpa_due:
            self._hpa_due = start + self.scenario.hpa_sync.total_seconds()
            for state in self.states.values():
                self._autoscale(state, start)
        faults = self.scenario.faults
        for state in self.states.values():
            state.step(faults, start, end)

    def _mirror(self) -> None:
        """Pods into the store (``kube.mirror_pods``), once per move, not per step."""
        if not self.mirror_pods:
            return
        for key, state in self.states.items():
            kube.mirror_pods(self.api, state, self.start, self.offset, self._mirrored[key])

    def _deploy_due(self, offset: float) -> None:
        for index, fault in enumerate(self.scenario.faults):
            due = isinstance(fault, BadDeploy) and fault.at.total_seconds() <= offset
            if due and index not in self.deployed and isinstance(fault, BadDeploy):
                self.deployed.add(index)
                kube.set_image(self.api, self.scenario.workload(fault.workload), fault.image)

    def _autoscale(self, state: WorkloadState, offset: float) -> None:
        """The HPA controller: ceil(current × utilisation / target) within the HPA's bounds;
        a scale-down waits for the highest recommendation of ``hpa_downscale_window``."""
        hpa = kube.hpa_of(self.api, state.spec)
        desired = state.desired
        if hpa is None or desired is None:
            return
        low, high, target = kube.hpa_target(hpa)
        current = desired.replicas
        wanted = current
        ratio = state.rates.cpu_utilisation * 100.0 / target
        if state.rates.ready > 0 and abs(ratio - 1.0) > HPA_TOLERANCE:
            wanted = math.ceil(state.rates.ready * ratio)
        wanted = min(high, max(low, wanted))
        window = self.scenario.hpa_downscale_window.total_seconds()
        history = [
            (at, n) for at, n in self._recommended.get(state.spec.key, []) if at > offset - window
        ]
        history.append((offset, wanted))
        self._recommended[state.spec.key] = history
        if wanted < current:
            wanted = min(current, max(n for _, n in history))
        if wanted != current:
            kube.set_replicas(self.api, state.spec, wanted)
            state.reconcile(kube.read_desired(self.api, state.spec), offset)
        kube.set_hpa_status(self.api, hpa, current, wanted, self.now)

    # ----- reads -----

    def rates(self, key: str) -> Rates:
        """The rates of ``namespace/name`` during the last step."""
        with self.lock:
            return self.states[key].rates

    def state(self, key: str) -> WorkloadState:
        """The live state of ``namespace/name`` (hold ``lock`` while reading it)."""
        return self.states[key]

    def view(self, *, stamped: bool = True) -> ClusterView:
        """A consistent copy of every workload at the current simulated time."""
        with self.lock:
            offset = self.offset
            workloads = tuple(
                WorkloadView(
                    spec=state.spec,
                    requests=dict(state.requests),
                    buckets=tuple(state.buckets),
                    latency_sum=state.latency_sum,
                    latency_count=state.latency_count,
                    pods=tuple(
                        PodView(
                            p.name,
                            p.replicaset,
                            p.image,
                            p.ready(offset),
                            p.cpu_seconds,
                            p.memory,
                            p.restarts,
                        )
                        for p in state.pods
                    ),  # fmt: skip
                    replicasets=state.replicasets(),
                    desired_replicas=state.desired.replicas if state.desired else 0,
                    available=state.available(offset),
                    rates=state.rates,
                )
                for state in self.states.values()
            )
            return ClusterView(self.now, workloads, stamped)
