"""The workload model: pure functions of a workload's spec, the scenario's faults and a time.

Nothing here holds state or reads a clock; ``state.py`` integrates these rates over time and
``cluster.py`` feeds them what the fake Kubernetes API says. The curves are deliberately
simple, so a test can predict every number the metrics will show:

- **utilisation** ρ = served load / (ready replicas × capacity per replica); load beyond
  capacity is shed with HTTP 503 (so ρ never exceeds 1 for what is served);
- **latency** of one request = ``base + Exp(mean = queue / (1 - min(ρ, RHO_MAX)))``: the
  M/M/1 response-time shape (an exponential whose mean explodes as ρ → 1), shifted by a
  fixed service floor. Quantiles and the CDF have closed forms, so the histogram buckets
  and ``histogram_quantile`` are exact expectations, not samples;
- **errors**: a request fails (500) with the error ratio of the image of the pod serving it
  (a bad deploy is a bad image); shed requests fail with 503;
- **CPU** per pod = idle + ρ × (limit − idle) + burn, at most the limit: serving is
  CPU-bound, so a saturated replica runs at its limit (what the HPA reacts to);
- **memory** per container = base + the leaks since it (re)started; at the limit it is OOM
  killed (``state.py`` counts the restart and resets the container's start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from controller.sim.cluster.spec import (
    BadDeploy,
    CpuSaturation,
    Fault,
    MemoryLeak,
    TrafficSurge,
    WorkloadSpec,
)

RHO_MAX = 0.98
"""Utilisation used for latency at (or beyond) saturation: finite, but two orders worse."""
MIN_CAPACITY_SHARE = 0.05
"""The share of capacity a replica keeps however much CPU a fault burns."""


@dataclass(frozen=True, slots=True)
class Leak:
    """One active leak: from ``start`` (seconds since the scenario start) at ``rate`` B/s."""

    start: float
    rate: float
    image: str | None


@dataclass(frozen=True, slots=True)
class Effects:
    """What the faults do to one workload at one moment."""

    load_factor: float = 1.0
    cpu_burn_cores: float = 0.0
    leaks: tuple[Leak, ...] = ()


def _active(start: timedelta, until: timedelta | None, offset: float) -> bool:
    return start.total_seconds() <= offset and (until is None or offset < until.total_seconds())


def effects_at(faults: tuple[Fault, ...], workload: str, offset: float) -> Effects:
    """The faults' combined effect on ``workload`` at ``offset`` seconds after the start."""
    factor, burn, leaks = 1.0, 0.0, []
    for fault in faults:
        if fault.workload != workload:
            continue
        if isinstance(fault, TrafficSurge) and _active(fault.at, fault.until, offset):
            factor *= fault.factor
        elif isinstance(fault, CpuSaturation) and _active(fault.at, fault.until, offset):
            burn += fault.cores
        elif isinstance(fault, MemoryLeak) and _active(fault.at, None, offset):
            leaks.append(Leak(fault.at.total_seconds(), fault.bytes_per_second, fault.image))
    return Effects(factor, burn, tuple(leaks))


def offered_load(spec: WorkloadSpec, effects: Effects) -> float:
    """Requests per second arriving at the workload."""
    return spec.load_rps * effects.load_factor


def replica_capacity(spec: WorkloadSpec, effects: Effects) -> float:
    """Req/s one ready replica serves at full utilisation, after the CPU a fault burns."""
    share = max(MIN_CAPACITY_SHARE, 1.0 - effects.cpu_burn_cores / spec.cpu_limit_cores)
    return spec.capacity_rps * share


def image_error_ratio(spec: WorkloadSpec, faults: tuple[Fault, ...], image: str) -> float:
    """The 500 ratio of pods running ``image``: a bad deploy's image is bad at any time."""
    for fault in faults:
        if isinstance(fault, BadDeploy) and fault.workload == spec.key and fault.image == image:
            return fault.error_ratio
    return spec.image_error_ratios.get(image, spec.error_ratio)


@dataclass(frozen=True, slots=True)
class Traffic:
    """How the offered load is served by ``ready`` replicas."""

    offered: float
    served: float
    shed: float
    utilisation: float
    per_pod: float


def traffic(offered: float, ready: int, capacity: float) -> Traffic:
    """Split ``offered`` req/s over ``ready`` replicas of ``capacity`` req/s each."""
    total = ready * capacity
    if total <= 0:
        return Traffic(offered, 0.0, offered, 1.0 if offered > 0 else 0.0, 0.0)
    served = min(offered, total)
    return Traffic(offered, served, offered - served, served / total, served / ready)


def queue_mean(spec: WorkloadSpec, utilisation: float) -> float:
    """Mean queueing delay (seconds) at ``utilisation``."""
    return spec.queue_latency_seconds / (1.0 - min(max(utilisation, 0.0), RHO_MAX))


def latency_quantile(spec: WorkloadSpec, utilisation: float, q: float) -> float:
    """The ``q`` quantile (0 < q < 1) of request latency in seconds."""
    return spec.base_latency_seconds + queue_mean(spec, utilisation) * math.log(1.0 / (1.0 - q))


def latency_cdf(spec: WorkloadSpec, utilisation: float, seconds: float) -> float:
    """P(latency <= ``seconds``)."""
    if seconds == math.inf:
        return 1.0
    above = seconds - spec.base_latency_seconds
    if above <= 0:
        return 0.0
    return 1.0 - math.exp(-above / queue_mean(spec, utilisation))


def latency_mean(spec: WorkloadSpec, utilisation: float) -> float:
    """Mean request latency in seconds (what the histogram's ``_sum`` grows by per request)."""
    return spec.base_latency_seconds + queue_mean(spec, utilisation)


def pod_cpu_cores(spec: WorkloadSpec, utilisation: float, effects: Effects) -> float:
    """Cores one pod uses at ``utilisation``, capped at its limit (CFS throttling)."""
    idle = min(spec.cpu_idle_cores, spec.cpu_limit_cores)
    used = idle + utilisation * (spec.cpu_limit_cores - idle) + effects.cpu_burn_cores
    return min(spec.cpu_limit_cores, used)


def leaked_bytes(leaks: tuple[Leak, ...], image: str, started: float, offset: float) -> float:
    """Bytes a container of ``image`` started at ``started`` has leaked by ``offset``."""
    return sum(
        leak.rate * max(0.0, offset - max(started, leak.start))
        for leak in leaks
        if leak.image is None or leak.image == image
    )


def memory_bytes(
    spec: WorkloadSpec, leaks: tuple[Leak, ...], image: str, started: float, offset: float
) -> float:
    """Working set of one container; at or above the limit it is OOM killed."""
    return spec.memory_base_bytes + leaked_bytes(leaks, image, started, offset)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """PromQL's ``histogram_quantile`` over cumulative ``(le, count)`` pairs (+Inf last).

    Linear interpolation inside the bucket holding the rank, the lowest bucket starting at 0,
    and the highest finite bound when the rank falls in +Inf: the value a test should expect
    Prometheus to return for buckets filled by ``latency_cdf``.
    """
    total = buckets[-1][1]
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == math.inf:
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower
