"""Building blocks for the synthetic example incidents: noise, a small service model, rendering.

The model is deliberately plain, so that every number in a generated file can be explained:

* request rate flows down the call graph: a service receives ``entry_rps`` from the ingress
  plus ``calls_per_request`` times the rate of each caller;
* CPU saturation (usage / request) is an idle floor plus load per ready replica; usage cannot
  pass the CPU limit (throttling), but the demand above it still queues;
* latency grows with that demand (queueing), p50 and p99 share most of their noise so they move
  together, and a caller's latency includes its callees';
* errors are a baseline, plus what a scenario injects, plus timeouts once demand exceeds the
  limit; a caller inherits its callees' errors one scrape later, scaled by how often it calls;
* memory is flat unless a scenario shapes it, restarts are flat unless a scenario adds crashes;
* replicas follow the scenario, or the HPA simulation for a workload that has an HPA.

All noise is multiplicative AR(1) drawn from one seeded ``random.Random``: the generator writes
identical files on every run, and neighbouring scrapes are correlated like real ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from controller.models.base import epoch, from_epoch
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident_file import MetricSeries, TraceSeries
from controller.models.signals import CANONICAL_UNITS, Signal
from controller.models.workloads import HpaSpec, WorkloadRef

NAMESPACE = "shop"
REGISTRY = "registry.example.com/shop"
MIB = 1024 * 1024
PROPAGATION_SECONDS = 30.0
"""How much later a caller's metrics show a callee's failure (client timeouts, retries)."""

TrackField = Literal[
    "traffic", "replicas", "extra_error", "latency", "tail", "cpu_extra", "memory", "restarts"
]


def sig(value: float, digits: int = 4) -> float:
    """Round to ``digits`` significant digits: plenty for detection, small in JSON."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def ramp(x: float, x0: float, x1: float) -> float:
    """0 up to ``x0``, 1 from ``x1``, linear in between: a rollout taking over traffic."""
    if x <= x0:
        return 0.0
    if x >= x1:
        return 1.0
    return (x - x0) / (x1 - x0)


def pulse(x: float, up0: float, up1: float, down0: float, down1: float) -> float:
    """A trapezoid that rises over [up0, up1] and falls over [down0, down1]: fault, then fix."""
    return ramp(x, up0, up1) * (1.0 - ramp(x, down0, down1))


def steps(x: float, initial: float, changes: Sequence[tuple[float, float]]) -> float:
    """Piecewise constant: ``initial``, then each (from_x, value) once ``x`` reaches from_x."""
    value = initial
    for at, new in changes:
        if x >= at:
            value = new
    return value


def wander(rng: random.Random, n: int, sigma: float, rho: float = 0.9) -> list[float]:
    """Mean-one multiplicative AR(1) noise: scrapes close in time are alike, as in Prometheus."""
    innovation = sigma * math.sqrt(1.0 - rho * rho)
    x = rng.gauss(0.0, sigma)
    out: list[float] = []
    for _ in range(n):
        out.append(math.exp(x - sigma * sigma / 2.0))
        x = rho * x + rng.gauss(0.0, innovation)
    return out


@dataclass(frozen=True)
class ServiceSpec:
    """One shop service: sizing, behaviour at the scene's reference load, and history.

    ``cpu_at_ref`` is the CPU saturation with ``replicas`` ready pods at the reference request
    rate (the scene's traffic multiplier 1); ``p50``/``p99`` are the service's own latency at
    light load, before its callees are added; ``versions`` are (version, days before the
    window start, change cause), oldest first, numbered from ``first_revision``.
    """

    name: str
    replicas: int
    cpu_request: float
    cpu_limit: float
    memory_request_mib: int
    memory_limit_mib: int
    cpu_idle: float
    cpu_at_ref: float
    p50: float
    p99: float
    error_ratio: float
    memory: float
    slo_p99: float | None
    versions: tuple[tuple[str, float, str], ...]
    first_revision: int
    restarts: int = 0
    entry_rps: float = 0.0
    hpa: HpaSpec | None = None

    @property
    def ref(self) -> WorkloadRef:
        """The workload's reference (every example lives in namespace ``shop``)."""
        return WorkloadRef(namespace=NAMESPACE, name=self.name)

    @property
    def cpu_cap(self) -> float:
        """Highest CPU saturation the limit allows (limit / request)."""
        return self.cpu_limit / self.cpu_request

    @property
    def current_revision(self) -> int:
        """Revision number of the newest version in ``versions``."""
        return self.first_revision + len(self.versions) - 1

    def image(self, version: str) -> str:
        """Container image of one version."""
        return f"{REGISTRY}/{self.name}:{version}"


@dataclass(frozen=True)
class Edge:
    """A call edge: ``calls_per_request`` calls per caller request; a failed call fails the
    caller's request with probability ``passthrough`` (the rest is absorbed by retries)."""

    caller: str
    callee: str
    calls_per_request: float
    passthrough: float = 1.0


@dataclass
class Track:
    """Per-sample state of one service that a scenario shapes before rendering."""

    traffic: list[float]
    replicas: list[float]
    extra_error: list[float]
    latency: list[float]
    tail: list[float]
    cpu_extra: list[float]
    memory: list[float]
    restarts: list[float]
    hpa_max: list[int] | None

    @classmethod
    def default(cls, spec: ServiceSpec, n: int) -> Track:
        """A quiet service: reference traffic, all replicas ready, nothing injected."""
        return cls(
            traffic=[1.0] * n,
            replicas=[float(spec.replicas)] * n,
            extra_error=[0.0] * n,
            latency=[1.0] * n,
            tail=[1.0] * n,
            cpu_extra=[0.0] * n,
            memory=[spec.memory] * n,
            restarts=[float(spec.restarts)] * n,
            hpa_max=None if spec.hpa is None else [spec.hpa.max_replicas] * n,
        )


@dataclass(frozen=True)
class Rendered:
    """What a scene renders to: series, traces, HPA events and the replicas at the start."""

    series: tuple[MetricSeries, ...]
    traces: tuple[TraceSeries, ...]
    events: tuple[ClusterEvent, ...]
    start_replicas: dict[str, int]


class Scene:
    """A time grid, the services on it (callers first), their call edges and their tracks."""

    def __init__(
        self,
        *,
        start: datetime,
        end: datetime,
        step_seconds: int,
        onset: datetime | None,
        services: Sequence[ServiceSpec],
        edges: Sequence[Edge],
        seed: int,
    ) -> None:
        """Lay out the grid from ``start`` to ``end`` inclusive; minutes count from ``onset``."""
        self.start, self.end, self.step = start, end, step_seconds
        count = int((end - start).total_seconds()) // step_seconds + 1
        self.timestamps = [epoch(start) + i * step_seconds for i in range(count)]
        origin = epoch(onset or start)
        self.minutes = [(t - origin) / 60.0 for t in self.timestamps]
        self.services = tuple(services)
        self.edges = tuple(edges)
        self.rng = random.Random(seed)
        self.tracks = {s.name: Track.default(s, count) for s in services}
        self.origin = onset or start
        self._check_order()

    def _check_order(self) -> None:
        order = {s.name: i for i, s in enumerate(self.services)}
        for edge in self.edges:
            if order[edge.caller] >= order[edge.callee]:
                raise ValueError(f"list {edge.caller} before {edge.callee}: callers come first")

    def at(self, minutes: float) -> datetime:
        """The time ``minutes`` after the scene's origin (the onset, or the start)."""
        return self.origin + timedelta(minutes=minutes)

    def service(self, name: str) -> ServiceSpec:
        """The spec of one service of the scene."""
        return next(s for s in self.services if s.name == name)

    def shape(self, name: str, field: TrackField, fn: Callable[[float], float]) -> None:
        """Set one track of one service from a function of minutes since the origin."""
        values: list[float] = getattr(self.tracks[name], field)
        for i, minute in enumerate(self.minutes):
            values[i] = fn(minute)

    def render(self) -> Rendered:
        """Turn the tracks into series, traces and HPA events (see the module docstring)."""
        return _Renderer(self).run()


def _queueing(load: float, weight: float) -> float:
    """Latency multiplier at ``load`` = CPU demand / limit: flat when idle, steep past 1."""
    return 1.0 + weight * load**4


def _timeouts(load: float) -> float:
    """Share of requests that time out when demand exceeds what the CPU limit can serve."""
    return 0.08 * max(0.0, 1.0 - 1.0 / load) if load > 0 else 0.0


class _Renderer:
    """One pass over a scene: rates top-down, then errors and latency bottom-up."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.n = len(scene.timestamps)
        self.lag = max(1, round(PROPAGATION_SECONDS / scene.step))
        self.rps: dict[str, list[float]] = {}
        self.ref_rps: dict[str, float] = {}
        self.replicas: dict[str, list[float]] = {}
        self.demand: dict[str, list[float]] = {}
        self.errors: dict[str, list[float]] = {}
        self.p50: dict[str, list[float]] = {}
        self.p99: dict[str, list[float]] = {}
        self.events: list[ClusterEvent] = []

    def run(self) -> Rendered:
        for spec in self.scene.services:
            self._rates(spec)
            self._capacity(spec)
        for spec in reversed(self.scene.services):
            self._own_errors_and_latency(spec)
            self._add_callees(spec)
        series = [s for spec in self.scene.services for s in self._series(spec)]
        return Rendered(
            series=tuple(series),
            traces=tuple(self._traces()),
            events=tuple(self.events),
            start_replicas={k: round(v[0]) for k, v in self.replicas.items()},
        )

    def _callers(self, name: str) -> list[Edge]:
        return [e for e in self.scene.edges if e.callee == name]

    def _callees(self, name: str) -> list[Edge]:
        return [e for e in self.scene.edges if e.caller == name]

    def _rates(self, spec: ServiceSpec) -> None:
        track = self.scene.tracks[spec.name]
        noise = wander(self.scene.rng, self.n, 0.03 if spec.entry_rps else 0.01)
        edges = self._callers(spec.name)
        self.ref_rps[spec.name] = spec.entry_rps + sum(
            e.calls_per_request * self.ref_rps[e.caller] for e in edges
        )
        self.rps[spec.name] = [
            track.traffic[i]
            * noise[i]
            * (spec.entry_rps + sum(e.calls_per_request * self.rps[e.caller][i] for e in edges))
            for i in range(self.n)
        ]

    def _cpu_demand(self, spec: ServiceSpec, i: int, replicas: float) -> float:
        per_pod = self.rps[spec.name][i] / self.ref_rps[spec.name] * spec.replicas / replicas
        extra = self.scene.tracks[spec.name].cpu_extra[i]
        return spec.cpu_idle + (spec.cpu_at_ref - spec.cpu_idle) * per_pod + extra

    def _capacity(self, spec: ServiceSpec) -> None:
        track = self.scene.tracks[spec.name]
        if spec.hpa is not None and track.hpa_max is not None:
            self.replicas[spec.name] = self._simulate_hpa(spec, spec.hpa, track.hpa_max)
        else:
            self.replicas[spec.name] = list(track.replicas)
        replicas = self.replicas[spec.name]
        self.demand[spec.name] = [
            self._cpu_demand(spec, i, max(1.0, replicas[i])) for i in range(self.n)
        ]

    def _simulate_hpa(self, spec: ServiceSpec, hpa: HpaSpec, max_at: list[int]) -> list[float]:
        """The Kubernetes HPA algorithm on the noise-free usage, one evaluation per scrape.

        desired = ceil(current * usage / target) outside a 10% tolerance; scale-up at once (at
        most doubling), scale-down only to the highest recommendation of the last 5 minutes;
        new pods are ready one minute later.
        """
        target = hpa.target_cpu_utilization or 0.8
        desired = self._steady_replicas(spec, hpa, target, max_at[0])
        ready_at = [-math.inf] * desired
        history: list[tuple[float, int]] = []
        ready: list[float] = []
        for i, t in enumerate(self.scene.timestamps):
            usage = min(self._cpu_demand(spec, i, desired), spec.cpu_cap)
            ratio = usage / target
            wanted = desired if abs(ratio - 1.0) <= 0.1 else math.ceil(desired * ratio)
            wanted = max(hpa.min_replicas, min(max_at[i], wanted))
            history = [(at, w) for at, w in history if at > t - 300.0] + [(t, wanted)]
            new = desired
            if wanted > desired:
                new = min(wanted, 2 * desired)
            elif wanted < desired:
                new = min(desired, max(w for _, w in history))
            if new != desired:
                self._scale_event(spec, t, desired, new)
                ready_at = ready_at[:new] + [t + 60.0] * (new - len(ready_at))
                desired = new
            ready.append(float(sum(1 for at in ready_at if at <= t)))
        return ready

    def _steady_replicas(self, spec: ServiceSpec, hpa: HpaSpec, target: float, ceiling: int) -> int:
        """Where the HPA had settled before the window: its rule applied until it stops moving."""
        desired = spec.replicas
        for _ in range(10):
            ratio = min(self._cpu_demand(spec, 0, desired), spec.cpu_cap) / target
            new = max(hpa.min_replicas, min(ceiling, math.ceil(desired * ratio)))
            if abs(ratio - 1.0) <= 0.1 or new == desired:
                break
            desired = new
        return desired

    def _scale_event(self, spec: ServiceSpec, t: float, old: int, new: int) -> None:
        why = (
            "cpu resource utilization (percentage of request) above target"
            if new > old
            else "All metrics below target"
        )
        self.events.append(
            ClusterEvent(
                time=from_epoch(t),
                kind=EventKind.SCALE,
                workload=spec.ref,
                reason="SuccessfulRescale",
                message=f"New size: {new}; reason: {why}",
                actor="horizontal-pod-autoscaler",
            )
        )

    def _own_errors_and_latency(self, spec: ServiceSpec) -> None:
        rng, track = self.scene.rng, self.scene.tracks[spec.name]
        err_noise = wander(rng, self.n, 0.3, 0.7)
        common, n50, n99 = (
            wander(rng, self.n, s, r) for s, r in ((0.05, 0.85), (0.02, 0.5), (0.06, 0.6))
        )
        errors, p50, p99 = [], [], []
        for i in range(self.n):
            load = self.demand[spec.name][i] / spec.cpu_cap
            errors.append(spec.error_ratio * err_noise[i] + track.extra_error[i] + _timeouts(load))
            shared = track.latency[i] * common[i]
            p50.append(spec.p50 * _queueing(load, 0.8) * shared * n50[i])
            p99.append(spec.p99 * _queueing(load, 2.5) * shared * track.tail[i] * n99[i])
        self.errors[spec.name], self.p50[spec.name], self.p99[spec.name] = errors, p50, p99

    def _add_callees(self, spec: ServiceSpec) -> None:
        errors, p50, p99 = self.errors[spec.name], self.p50[spec.name], self.p99[spec.name]
        for edge in self._callees(spec.name):
            share = min(1.0, edge.calls_per_request)
            tail_share = min(1.0, 2.0 * edge.calls_per_request)
            for i in range(self.n):
                j = max(0, i - self.lag)
                errors[i] += edge.passthrough * share * self.errors[edge.callee][j]
                p50[i] += share * self.p50[edge.callee][j]
                p99[i] += tail_share * self.p99[edge.callee][j]
        self.errors[spec.name] = [min(1.0, e) for e in errors]

    def _series(self, spec: ServiceSpec) -> list[MetricSeries]:
        rng, track, name = self.scene.rng, self.scene.tracks[spec.name], spec.name
        cpu_noise = wander(rng, self.n, 0.025, 0.8)
        mem_noise = wander(rng, self.n, 0.004, 0.95)
        cap = spec.cpu_cap * 0.97
        columns: dict[Signal, list[float]] = {
            Signal.REQUEST_RATE: self.rps[name],
            Signal.ERROR_RATIO: self.errors[name],
            Signal.LATENCY_P50: self.p50[name],
            Signal.LATENCY_P99: self.p99[name],
            Signal.CPU_SATURATION: [
                min(d, cap) * k for d, k in zip(self.demand[name], cpu_noise, strict=True)
            ],
            Signal.MEMORY_SATURATION: [m * k for m, k in zip(track.memory, mem_noise, strict=True)],
            Signal.RESTARTS: track.restarts,
            Signal.REPLICAS_AVAILABLE: self.replicas[name],
        }
        return [self._metric(spec.ref, signal, values) for signal, values in columns.items()]

    def _metric(self, ref: WorkloadRef, signal: Signal, values: list[float]) -> MetricSeries:
        return MetricSeries(
            workload=ref,
            signal=signal,
            unit=CANONICAL_UNITS[signal],
            timestamps=tuple(self.scene.timestamps),
            values=tuple(sig(v) for v in values),
        )

    def _traces(self) -> list[TraceSeries]:
        """Service-level span statistics, then one series per call edge (client side)."""
        rng = self.scene.rng
        out: list[TraceSeries] = []
        for spec in self.scene.services:
            name = spec.name
            jitter = [rng.gauss(1.0, 0.01) for _ in range(self.n)]
            out.append(
                self._trace(
                    None,
                    name,
                    [r * k for r, k in zip(self.rps[name], jitter, strict=True)],
                    self.errors[name],
                    self.p50[name],
                    self.p99[name],
                )
            )
        for edge in self.scene.edges:
            callee = edge.callee
            out.append(
                self._trace(
                    edge.caller,
                    callee,
                    [edge.calls_per_request * r for r in self.rps[edge.caller]],
                    [e + 0.00005 for e in self.errors[callee]],
                    [p + 0.0015 for p in self.p50[callee]],
                    [p + 0.006 for p in self.p99[callee]],
                )
            )
        return out

    def _trace(
        self,
        caller: str | None,
        callee: str,
        rate: list[float],
        errors: list[float],
        p50: list[float],
        p99: list[float],
    ) -> TraceSeries:
        def rounded(values: list[float]) -> tuple[float | None, ...]:
            return tuple(sig(v) for v in values)

        return TraceSeries(
            caller=caller,
            callee=callee,
            timestamps=tuple(self.scene.timestamps),
            rate=rounded(rate),
            error_ratio=rounded([min(1.0, e) for e in errors]),
            latency_p50_seconds=rounded(p50),
            latency_p99_seconds=rounded(p99),
        )
