"""The bundled examples trip the detection thresholds they are about, and nothing else.

The checks re-implement the documented thresholds (DetectionSettings defaults) in plain Python
over the committed files, independently of controller.detection: multi-window burn rate,
latency, CPU and memory saturation, memory leak trend, crash loop, over-provisioning and
stuck rollouts. A fault example must cross its threshold after onset and stay clear before;
the quiet day must stay clear everywhere.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest

from controller.models.base import epoch
from controller.models.events import EventKind
from controller.models.incident_file import IncidentFile
from controller.models.signals import Signal
from controller.models.workloads import WorkloadInventory, WorkloadRef
from controller.settings import DetectionSettings

INCIDENTS = Path(__file__).resolve().parents[3] / "examples" / "incidents"
SETTINGS = DetectionSettings()
MIN = 60.0


@cache
def load(name: str) -> IncidentFile:
    data = json.loads((INCIDENTS / f"{name}.json").read_text(encoding="utf-8"))
    return IncidentFile.model_validate(data)


def ref(name: str) -> WorkloadRef:
    return WorkloadRef(namespace="shop", name=name)


def onset_of(incident: IncidentFile) -> float:
    assert incident.ground_truth is not None and incident.ground_truth.onset is not None
    return epoch(incident.ground_truth.onset)


@dataclass(frozen=True)
class Points:
    """One recorded series with prefix sums: window means in O(1)."""

    times: list[float]
    values: list[float]
    prefix: list[float]

    @classmethod
    def of(cls, incident: IncidentFile, workload: WorkloadRef, signal: Signal) -> Points:
        series = next(s for s in incident.series if s.workload == workload and s.signal is signal)
        kept = [
            (t, v) for t, v in zip(series.timestamps, series.values, strict=True) if v is not None
        ]
        sums = [0.0]
        for _, value in kept:
            sums.append(sums[-1] + value)
        return cls([t for t, _ in kept], [v for _, v in kept], sums)

    def between(self, start: float, end: float) -> list[tuple[float, float]]:
        """Samples with start < t <= end (the detectors' window convention)."""
        lo = bisect.bisect_right(self.times, start)
        hi = bisect.bisect_right(self.times, end)
        return list(zip(self.times[lo:hi], self.values[lo:hi], strict=True))

    def mean(self, end: float, seconds: float) -> float | None:
        lo = bisect.bisect_right(self.times, end - seconds)
        hi = bisect.bisect_right(self.times, end)
        return (self.prefix[hi] - self.prefix[lo]) / (hi - lo) if hi > lo else None


def sustained(points: Points, holds: Callable[[float], bool], seconds: float) -> list[float]:
    """Times at which ``holds`` has been true for every sample of at least ``seconds``."""
    fired, run_start = [], None
    for t, v in zip(points.times, points.values, strict=True):
        run_start = (run_start if run_start is not None else t) if holds(v) else None
        if run_start is not None and t - run_start >= seconds:
            fired.append(t)
    return fired


def burn_fires(errors: Points, requests: Points, availability: float) -> list[float]:
    """Times at which both windows of a configured burn-rate pair exceed its factor."""
    budget, fired = 1.0 - availability, []
    for t in errors.times:
        if t - errors.times[0] < 300:
            continue
        for pair in SETTINGS.burn_windows:
            long_s, short_s = pair.long.total_seconds(), pair.short.total_seconds()
            rate = requests.mean(t, short_s)
            long_m, short_m = errors.mean(t, long_s), errors.mean(t, short_s)
            if (
                rate is None
                or rate < SETTINGS.min_request_rate
                or long_m is None
                or short_m is None
            ):
                continue
            if t - errors.times[0] >= short_s and min(long_m, short_m) > pair.factor * budget:
                fired.append(t)
                break
    return fired


def trend(window: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least squares: (slope per second, fitted value at the last sample, r squared)."""
    n = len(window)
    mean_t = sum(t for t, _ in window) / n
    mean_v = sum(v for _, v in window) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in window)
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in window)
    syy = sum((v - mean_v) ** 2 for _, v in window) or 1e-12
    slope = sxy / sxx
    return slope, mean_v + slope * (window[-1][0] - mean_t), sxy * sxy / (sxx * syy)


def leak_fires(memory: Points) -> list[float]:
    """Times at which a 30-min linear climb of >= 0.15 reaches the limit within 2 h."""
    seconds = SETTINGS.memory_leak_window.total_seconds()
    horizon = SETTINGS.memory_leak_horizon.total_seconds()
    fired = []
    for t in memory.times:
        if t - memory.times[0] < seconds:
            continue
        slope, now, r2 = trend(memory.between(t - seconds, t))
        growth = slope * seconds
        if growth >= SETTINGS.memory_leak_min_growth and r2 >= 0.8 and (1 - now) / slope <= horizon:
            fired.append(t)
    return fired


def crash_loop_fires(restarts: Points) -> list[float]:
    """Times at which the counter rose by >= 3 within the last 10 minutes."""
    seconds = SETTINGS.crash_loop_window.total_seconds()
    fired = []
    for t in restarts.times:
        window = restarts.between(t - seconds, t)
        rises = sum(max(0.0, b - a) for (_, a), (_, b) in zip(window, window[1:], strict=False))
        if rises >= SETTINGS.crash_loop_restarts:
            fired.append(t)
    return fired


def detector_times(incident: IncidentFile, inventory: WorkloadInventory) -> dict[str, list[float]]:
    """Every documented detector over one workload's series: name -> times it fires."""

    def get(signal: Signal) -> Points:
        return Points.of(incident, inventory.ref, signal)

    slo_p99 = inventory.slo.latency_p99_seconds or SETTINGS.latency_p99_seconds
    saturation = SETTINGS.saturation_for.total_seconds()
    return {
        "slo_burn": burn_fires(
            get(Signal.ERROR_RATIO), get(Signal.REQUEST_RATE), inventory.slo.availability
        ),
        "latency": sustained(
            get(Signal.LATENCY_P99), lambda v: v > slo_p99, SETTINGS.latency_for.total_seconds()
        ),
        "cpu_saturation": sustained(
            get(Signal.CPU_SATURATION), lambda v: v > SETTINGS.cpu_saturation, saturation
        ),
        "memory_saturation": sustained(
            get(Signal.MEMORY_SATURATION), lambda v: v > SETTINGS.memory_saturation, saturation
        ),
        "memory_leak": leak_fires(get(Signal.MEMORY_SATURATION)),
        "crash_loop": crash_loop_fires(get(Signal.RESTARTS)),
        "over_provisioned": sustained(
            get(Signal.CPU_SATURATION),
            lambda v: v < SETTINGS.over_provisioned_below,
            SETTINGS.over_provisioned_for.total_seconds(),
        ),
    }


def firing(incident: IncidentFile, name: str, start: float, end: float) -> dict[str, float]:
    """Detectors of workload ``name`` that fire within [start, end]: name -> first time."""
    inventory = incident.workload(ref(name))
    assert inventory is not None
    times = detector_times(incident, inventory)
    return {
        kind: first
        for kind, fired in times.items()
        if (first := next((t for t in fired if start <= t <= end), None)) is not None
    }


FAULTS = {
    # example: (root cause, detector that must fire, workloads that must stay clear throughout)
    "bad-deploy": ("checkout", "slo_burn", ("payments",)),
    "traffic-surge-hpa": ("search", "cpu_saturation", ("cart",)),
    "crashloop-after-rollout": ("payments", "crash_loop", ()),
    "memory-leak": ("cart", "memory_leak", ("frontend", "checkout")),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_root_cause_crosses_its_threshold_after_onset_and_only_then(name: str) -> None:
    incident = load(name)
    root, detector, _ = FAULTS[name]
    onset = onset_of(incident)
    after = firing(incident, root, onset, onset + 30 * MIN)
    assert detector in after, f"{name}: {root} never trips {detector} after onset: {after}"
    for workload in incident.workloads:
        before = firing(incident, workload.ref.name, 0.0, onset)
        assert before == {}, f"{name}: {workload.ref.name} already trips {before} before onset"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_bystanders_stay_clear(name: str) -> None:
    incident = load(name)
    for bystander in FAULTS[name][2]:
        assert firing(incident, bystander, 0.0, float("inf")) == {}, bystander


def test_quiet_day_trips_nothing_anywhere() -> None:
    incident = load("quiet-day")
    for workload in incident.workloads:
        name = workload.ref.name
        assert firing(incident, name, 0.0, float("inf")) == {}, name
        cpu = Points.of(incident, workload.ref, Signal.CPU_SATURATION).values
        assert 0.25 <= min(cpu) and max(cpu) <= 0.85, (name, min(cpu), max(cpu))
        errors = Points.of(incident, workload.ref, Signal.ERROR_RATIO)
        assert 0.0003 <= sum(errors.values) / len(errors.values) <= 0.002, name


def test_bad_deploy_errors_jump_fast_and_recover_after_the_rollback() -> None:
    incident = load("bad-deploy")
    onset = onset_of(incident)
    checkout = Points.of(incident, ref("checkout"), Signal.ERROR_RATIO)
    frontend = Points.of(incident, ref("frontend"), Signal.ERROR_RATIO)
    payments = Points.of(incident, ref("payments"), Signal.ERROR_RATIO)
    peak = checkout.mean(onset + 8 * MIN, 5 * MIN)
    assert peak is not None and peak > 14.4 * 0.001
    assert 0.09 <= max(checkout.values) <= 0.16
    assert 0.025 <= max(frontend.values) <= 0.06
    first_checkout = next(
        t for t, v in zip(checkout.times, checkout.values, strict=True) if v > 0.01
    )
    first_frontend = next(
        t for t, v in zip(frontend.times, frontend.values, strict=True) if v > 0.01
    )
    assert onset < first_checkout <= onset + MIN  # within a minute of the deploy
    assert first_checkout < first_frontend  # the caller sees it a scrape later
    assert max(payments.values) < 0.005
    recovered = checkout.mean(onset + 10 * MIN, 60.0)
    assert recovered is not None and recovered < 0.005  # rollback at +7m, back within 2 min
    p99 = Points.of(incident, ref("checkout"), Signal.LATENCY_P99)
    before, during = p99.mean(onset, 10 * MIN), p99.mean(onset + 6 * MIN, 4 * MIN)
    assert before is not None and during is not None and 1.6 <= during / before <= 2.6


def test_surge_saturates_search_at_its_hpa_maximum() -> None:
    incident = load("traffic-surge-hpa")
    onset = onset_of(incident)
    search = incident.workload(ref("search"))
    assert search is not None and search.hpa is not None
    rate = Points.of(incident, ref("search"), Signal.REQUEST_RATE)
    base, peak = rate.mean(onset, 30 * MIN), rate.mean(onset + 18 * MIN, 5 * MIN)
    assert base is not None and peak is not None and 2.3 <= peak / base <= 2.9
    after = firing(incident, "search", onset, onset + 20 * MIN)
    assert {"cpu_saturation", "latency"} <= set(after)
    cpu = Points.of(incident, ref("search"), Signal.CPU_SATURATION)
    assert 1.2 <= max(cpu.values) <= 1.4
    replicas = Points.of(incident, ref("search"), Signal.REPLICAS_AVAILABLE)
    at_onset = replicas.between(onset - 30, onset)[-1][1]
    assert at_onset == search.hpa.max_replicas == 6
    assert max(replicas.values) == 12
    assert not [e for e in incident.events if e.is_change]


def test_crash_loop_restarts_and_lost_replicas() -> None:
    incident = load("crashloop-after-rollout")
    onset = onset_of(incident)
    restarts = Points.of(incident, ref("payments"), Signal.RESTARTS)
    early = restarts.between(onset, onset + 10 * MIN)
    per_minute = (early[-1][1] - early[0][1]) / 10.0 / 2  # two crashing pods
    assert 0.9 <= per_minute <= 1.6  # one restart per 40-60 s per pod
    available = Points.of(incident, ref("payments"), Signal.REPLICAS_AVAILABLE)
    assert min(available.values) == 2 and available.values[0] == available.values[-1] == 4
    errors = Points.of(incident, ref("payments"), Signal.ERROR_RATIO)
    assert 0.25 <= (errors.mean(onset + 12 * MIN, 5 * MIN) or 0.0) <= 0.35
    kinds = [e.kind for e in incident.events if e.workload == ref("payments")]
    assert EventKind.POD_CRASH in kinds
    completes = [e for e in incident.events if e.kind is EventKind.ROLLOUT_COMPLETE]
    assert all(e.revision != 4 for e in completes)


def test_memory_leak_is_linear_with_flat_traffic_and_an_old_deploy() -> None:
    incident = load("memory-leak")
    onset = onset_of(incident)
    memory = Points.of(incident, ref("cart"), Signal.MEMORY_SATURATION)
    assert abs((memory.mean(onset, 10 * MIN) or 0.0) - 0.45) < 0.02
    assert abs(max(memory.values) - 0.93) < 0.03
    slope, _, r2 = trend(memory.between(onset, onset + 80 * MIN))
    assert slope * 1800 >= 0.15 and r2 > 0.98
    rate = Points.of(incident, ref("cart"), Signal.REQUEST_RATE)
    means = [m for t in rate.times[20:] if (m := rate.mean(t, 10 * MIN)) is not None]
    assert max(means) / min(means) < 1.15
    cart = incident.workload(ref("cart"))
    assert cart is not None and cart.current is not None
    assert incident.ground_truth is not None and incident.ground_truth.onset is not None
    assert incident.ground_truth.onset - cart.current.created > timedelta(days=2)
    assert not [e for e in incident.events if e.is_change]


@pytest.mark.parametrize("name", [*sorted(FAULTS), "quiet-day"])
def test_healthy_deploys_complete_in_time(name: str) -> None:
    incident = load(name)
    deadline = SETTINGS.stuck_rollout_deadline
    for deploy in (e for e in incident.events if e.kind is EventKind.DEPLOY):
        done = [
            e
            for e in incident.events
            if e.kind is EventKind.ROLLOUT_COMPLETE
            and e.workload == deploy.workload
            and deploy.time < e.time <= deploy.time + deadline
        ]
        stuck = name == "crashloop-after-rollout" and deploy.revision == 4
        assert bool(done) != stuck, (name, deploy)
