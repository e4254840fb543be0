"""One workload's running state: its pods and the cumulative counters the metrics expose.

Everything time-dependent is integrated here, step by step, from the pure rates of
``model.py``: counters only ever grow (as Prometheus counters must), pods come and go as the
desired state says (``reconcile``), and a container that reaches its memory limit is OOM
killed (restart count + 1, its leak gone). Times are seconds since the scenario start.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from controller.sim.cluster import model
from controller.sim.cluster.spec import Fault, WorkloadSpec

BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
    0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, math.inf,
)  # fmt: skip
"""Latency histogram bounds (seconds): fine below 100 ms, where healthy p50s and p99s sit."""
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True, slots=True)
class Desired:
    """What the Deployment asks for, as read from the fake API."""

    replicas: int
    replicaset: str
    image: str
    paused: bool = False
    template: Any = field(default=None, compare=False)
    """The pod template (what the simulator's mirrored Pod objects are made from)."""


@dataclass
class Pod:
    """One pod with a single container (the workload's)."""

    name: str
    replicaset: str
    image: str
    created: float
    ready_at: float
    started: float
    restarts: int = 0
    cpu_seconds: float = 0.0
    memory: float = 0.0
    last_oom: float | None = None

    def ready(self, offset: float) -> bool:
        """Whether it serves traffic at ``offset``."""
        return self.ready_at <= offset


@dataclass(frozen=True, slots=True)
class Rates:
    """The workload's rates during the last step (for tests, traces and the HPA)."""

    offered: float = 0.0
    served: float = 0.0
    shed: float = 0.0
    utilisation: float = 0.0
    error_ratio: float = 0.0
    ready: int = 0
    cpu_utilisation: float = 0.0
    """Mean CPU of ready pods over their request (what the HPA targets)."""


@dataclass
class WorkloadState:
    """Pods, counters and the latest rates of one workload."""

    spec: WorkloadSpec
    pods: list[Pod] = field(default_factory=list)
    requests: dict[str, float] = field(default_factory=lambda: {"200": 0.0, "500": 0.0, "503": 0.0})
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    latency_sum: float = 0.0
    latency_count: float = 0.0
    rates: Rates = field(default_factory=Rates)
    created_pods: int = 0
    desired: Desired | None = None
    templates: dict[str, Any] = field(default_factory=dict)
    """Pod template by ReplicaSet name, as first seen."""

    # ----- pods -----

    def _pod_name(self, replicaset: str) -> str:
        self.created_pods += 1
        digest = hashlib.sha256(f"{replicaset}/{self.created_pods}".encode()).digest()
        return f"{replicaset}-{''.join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])}"

    def reconcile(self, desired: Desired | None, offset: float) -> None:
        """Move the pods towards ``desired``: a new template rolls out (old pods serve until
        the new ones are ready), a replica count change adds or removes pods; no Deployment
        means no pods."""
        if desired is None:
            self.pods, self.desired = [], None
            return
        target = desired
        if desired.paused and self.desired is not None:  # a paused rollout: scale only
            kept = self.desired
            target = Desired(desired.replicas, kept.replicaset, kept.image, True, kept.template)
        self.desired = target
        self.templates.setdefault(target.replicaset, target.template)
        current = [p for p in self.pods if p.replicaset == target.replicaset]
        old = [p for p in self.pods if p.replicaset != target.replicaset]
        while len(current) < target.replicas:
            ready = offset + self.spec.startup_seconds
            name = self._pod_name(target.replicaset)
            current.append(Pod(name, target.replicaset, target.image, offset, ready, offset))
        del current[target.replicas :]
        if sum(p.ready(offset) for p in current) >= target.replicas:
            old = []  # the rollout is complete: the old ReplicaSet's pods are gone
        self.pods = old + current

    # ----- one step -----

    def step(self, faults: tuple[Fault, ...], start: float, end: float) -> None:
        """Integrate the counters over [start, end] at the rates of ``start``."""
        dt = end - start
        effects = model.effects_at(faults, self.spec.key, start)
        ready = [p for p in self.pods if p.ready(start)]
        load = model.traffic(
            model.offered_load(self.spec, effects),
            len(ready),
            model.replica_capacity(self.spec, effects),
        )
        failing = 0.0
        for pod in ready:
            ratio = model.image_error_ratio(self.spec, faults, pod.image)
            failing += load.per_pod * ratio
        self.requests["503"] += load.shed * dt
        self.requests["500"] += failing * dt
        self.requests["200"] += (load.served - failing) * dt
        total = load.offered * dt
        for index, bound in enumerate(BUCKETS):
            self.buckets[index] += total * model.latency_cdf(self.spec, load.utilisation, bound)
        self.latency_sum += total * model.latency_mean(self.spec, load.utilisation)
        self.latency_count += total
        cpu_total = 0.0
        for pod in self.pods:
            busy = load.utilisation if pod.ready(start) else 0.0
            cores = model.pod_cpu_cores(self.spec, busy, effects)
            pod.cpu_seconds += cores * dt
            cpu_total += cores if pod.ready(start) else 0.0
            self._memory(pod, effects, end)
        errors = (failing + load.shed) / load.offered if load.offered > 0 else 0.0
        cpu_util = cpu_total / (len(ready) * self.spec.cpu_request_cores) if ready else 0.0
        self.rates = Rates(
            load.offered, load.served, load.shed, load.utilisation, errors, len(ready), cpu_util
        )

    def _memory(self, pod: Pod, effects: model.Effects, offset: float) -> None:
        memory = model.memory_bytes(self.spec, effects.leaks, pod.image, pod.started, offset)
        if memory >= self.spec.memory_limit_bytes:  # OOMKilled: the kubelet restarts it
            pod.restarts += 1
            pod.started = pod.last_oom = offset
            memory = model.memory_bytes(self.spec, effects.leaks, pod.image, offset, offset)
        pod.memory = memory

    # ----- reads -----

    def available(self, offset: float) -> int:
        """Ready pods (``kube_deployment_status_replicas_available``)."""
        return sum(p.ready(offset) for p in self.pods)

    def replicasets(self) -> dict[str, int]:
        """ReplicaSets that have pods, with their pod counts."""
        counts: dict[str, int] = {}
        for pod in self.pods:
            counts[pod.replicaset] = counts.get(pod.replicaset, 0) + 1
        return counts
