"""Fleet-sized synthetic incident files for the replay benchmark.

A file holds ``workloads`` services over ``hours`` at ``step_seconds``, laid out as call trees of
``GROUP`` services (one entry service calling ``FANOUT`` services, each calling ``FANOUT``
more). Every signal is a diurnal load curve times mean-one AR(1) noise, with rare p99 spikes and
rare missing samples (``null``, never two in a row), so detection sees a fleet that is busy
but healthy. One fault is injected: a bad deploy of the second service of the first tree at
``fault_at`` of the window (8% errors, p99 x1.8, a third of it passed on to its caller one
scrape later), approved and rolled back by a human ``FAULT_MINUTES`` later.

With ``events``, every workload also gets background cluster events spread over the window
(deploys each followed by a rollout_complete, config changes, pod crashes that bump the
restart counter, scale and plain Kubernetes events: about 16 a day), except for the fault's
tree within an hour of the onset, so that the fault stays the only incident.

Generation is deterministic (one seeded ``random.Random`` per workload) and streams the
series straight into the JSON text, so that a large file never sits in memory as floats.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

START = datetime(2026, 3, 2, tzinfo=UTC)
GROUP = 10
"""Workloads per call tree."""
FANOUT = 3
NAMESPACE_SIZE = 50
"""Workloads per namespace (every namespace opts in to remediation)."""
REGISTRY = "registry.example.com/bench"
FAULT_TARGET = 1
"""The faulty workload: it has a caller (0) and callees (4, 5, 6) when the fleet is that big."""
FAULT_ERROR = 0.08
FAULT_MINUTES = 20
"""Minutes from the bad deploy to the human rollback."""
APPROVAL_MINUTES = 6
QUIET_ZONE = timedelta(hours=1)
"""No background event touches the fault's call tree this close to the onset."""
FIRST_REVISION = 3
"""Every workload starts at revision 3 (history 1, 2, 3)."""
MISSING = 0.001
"""Chance that a sample is missing (a ``null``)."""
SPIKE = 0.003
"""Chance that a p99 sample spikes by ``SPIKE_FACTOR``."""
SPIKE_FACTOR = 1.6
PER_HOUR: dict[str, float] = {
    "deploy": 1 / 8,
    "config_change": 1 / 24,
    "pod_crash": 1 / 12,
    "scale": 1 / 24,
    "kubernetes": 1 / 4,
}
"""Background event rates per workload (a deploy adds its rollout_complete)."""
K8S_REASONS = ("Pulled", "Scheduled", "Killing", "Unhealthy")
REQUIRED = (
    "request_rate",
    "error_ratio",
    "latency_p99",
    "cpu_saturation",
    "memory_saturation",
    "restarts",
)
EXTRA = ("latency_p50", "replicas_available")
UNITS = {
    "request_rate": "1/s",
    "error_ratio": "ratio",
    "latency_p50": "s",
    "latency_p99": "s",
    "cpu_saturation": "ratio",
    "memory_saturation": "ratio",
    "restarts": "count",
    "replicas_available": "count",
}


@dataclass(frozen=True, slots=True)
class Spec:
    """What to generate. ``all_signals`` adds latency_p50 and replicas_available to the six
    signals detection requires; ``traces`` adds a trace series per service and call edge."""

    workloads: int
    hours: float = 24.0
    step_seconds: int = 15
    events: bool = True
    traces: bool = False
    all_signals: bool = False
    seed: int = 1
    fault_at: float = 0.6

    @property
    def name(self) -> str:
        """The file's ``metadata.name`` and file stem, unique per spec."""
        parts = [
            f"bench-{self.workloads}w-{self.hours:g}h-{self.step_seconds}s",
            "events" if self.events else "quiet",
        ]
        parts += ["traces"] if self.traces else []
        parts += ["all"] if self.all_signals else []
        parts += [f"seed{self.seed}"] if self.seed != 1 else []
        parts += [f"fault{self.fault_at:g}"] if self.fault_at != 0.6 else []
        return "-".join(parts)

    @property
    def samples(self) -> int:
        """Samples per series: the window start through its end."""
        return int(self.hours * 3600 // self.step_seconds) + 1

    @property
    def end(self) -> datetime:
        """The window end."""
        return START + timedelta(hours=self.hours)

    @property
    def onset(self) -> datetime:
        """The bad deploy, on a sample boundary."""
        steps = int(self.fault_at * self.hours * 3600 // self.step_seconds)
        return START + timedelta(seconds=steps * self.step_seconds)

    @property
    def signals(self) -> tuple[str, ...]:
        """The signals written for every workload."""
        return REQUIRED + EXTRA if self.all_signals else REQUIRED


@dataclass(frozen=True, slots=True)
class Event:
    """One cluster event before rendering (revisions are assigned in time order later)."""

    at: datetime
    kind: str
    reason: str = ""
    message: str = ""
    fault: str = ""
    """``bad`` for the bad deploy, ``rollback`` for the human's rollback, else empty."""


@dataclass(slots=True)
class Workload:
    """One workload's fixed traits."""

    index: int
    rng: random.Random
    replicas: int
    hpa: bool
    rps: float
    p50: float
    tail: float
    error: float
    memory: float
    phase: float
    events: list[dict[str, Any]] = field(default_factory=list)
    crashes: list[datetime] = field(default_factory=list)
    fault_revisions: tuple[int, int] | None = None
    """(bad, good) revisions once the fault's deploy and rollback are rendered."""

    @property
    def name(self) -> str:
        """Workload and service name."""
        return f"svc-{self.index:04d}"

    @property
    def namespace(self) -> str:
        """Its namespace."""
        return f"shop-{self.index // NAMESPACE_SIZE}"

    @property
    def ref(self) -> dict[str, str]:
        """The JSON workload reference."""
        return {"namespace": self.namespace, "name": self.name, "kind": "Deployment"}


def fault_target(spec: Spec) -> int:
    """Index of the faulty workload (the only one in a one-workload fleet)."""
    return min(FAULT_TARGET, spec.workloads - 1)


def parent(index: int) -> int | None:
    """The caller of ``index`` in its call tree (None for an entry service)."""
    within = index % GROUP
    if within == 0:
        return None
    return index - within + (within - 1) // FANOUT


def make_workload(spec: Spec, index: int) -> Workload:
    """A workload with traits drawn from its own seeded generator."""
    rng = random.Random(spec.seed * 1_000_003 + index)
    hpa = index % 5 == 4
    return Workload(
        index=index,
        rng=rng,
        replicas=rng.randint(2, 6),
        hpa=hpa,
        rps=rng.uniform(20, 200),
        p50=rng.uniform(0.01, 0.05),
        tail=rng.uniform(3.0, 6.0),
        error=rng.uniform(0.0001, 0.0004),
        memory=rng.uniform(0.3, 0.6),
        phase=rng.uniform(-0.05, 0.05),
    )


# -- noise and shapes ------------------------------------------------------------------------


def wander(rng: random.Random, n: int, sigma: float, rho: float = 0.9) -> list[float]:
    """Mean-one multiplicative AR(1) noise: neighbouring scrapes are alike."""
    innovation = sigma * math.sqrt(1.0 - rho * rho)
    shift = sigma * sigma / 2.0
    x = rng.gauss(0.0, sigma)
    out = [0.0] * n
    gauss, exp = rng.gauss, math.exp
    for k in range(n):
        out[k] = exp(x - shift)
        x = rho * x + gauss(0.0, innovation)
    return out


def diurnal(spec: Spec, phase: float) -> list[float]:
    """Load relative to the daily mean: low at night, high in the afternoon."""
    start = START.timestamp()
    step = spec.step_seconds
    return [
        1.0 + 0.4 * math.sin(2 * math.pi * (((start + k * step) % 86400) / 86400 - 0.375 + phase))
        for k in range(spec.samples)
    ]


def sample_index(spec: Spec, at: datetime) -> int:
    """Index of the first sample at or after ``at``."""
    return math.ceil((at - START).total_seconds() / spec.step_seconds)


@dataclass(frozen=True, slots=True)
class Tracks:
    """The signals of one workload, sample by sample."""

    load: list[float]
    values: dict[str, list[float]]


def fault_window(spec: Spec) -> tuple[int, int]:
    """Sample indices [first, last) during which the bad revision fails requests."""
    first = sample_index(spec, spec.onset) + 1
    last = sample_index(spec, spec.onset + timedelta(minutes=FAULT_MINUTES + 2))
    return first, min(last, spec.samples)


def inject_fault(spec: Spec, workload: Workload, values: dict[str, list[float]]) -> None:
    """The bad deploy's errors and latency, or the third of the errors its caller sees."""
    first, last = fault_window(spec)
    target = fault_target(spec)
    if workload.index == target:
        errors, p99 = values["error_ratio"], values["latency_p99"]
        for k in range(first, last):
            errors[k] += FAULT_ERROR * (0.9 + 0.2 * workload.rng.random())
            p99[k] *= 1.8
    elif workload.index == parent(target):
        errors = values["error_ratio"]
        for k in range(first + 1, min(last + 1, spec.samples)):
            errors[k] += FAULT_ERROR / 3 * (0.9 + 0.2 * workload.rng.random())


def restart_counter(spec: Spec, workload: Workload) -> list[float]:
    """The cumulative restart counter: a start value plus one per pod crash event."""
    counter = [float(workload.rng.randint(0, 5))] * spec.samples
    for at in sorted(workload.crashes):
        for k in range(sample_index(spec, at), spec.samples):
            counter[k] += 1.0
    return counter


def tracks(spec: Spec, workload: Workload) -> Tracks:
    """Every signal of one workload, fault included."""
    rng, n = workload.rng, spec.samples
    load = [d * w for d, w in zip(diurnal(spec, workload.phase), wander(rng, n, 0.08), strict=True)]
    p50 = [
        workload.p50 * (1.0 + 0.5 * max(0.0, x - 1.0)) * w
        for x, w in zip(load, wander(rng, n, 0.1), strict=True)
    ]
    p99 = [
        v * workload.tail * w * (SPIKE_FACTOR if rng.random() < SPIKE else 1.0)
        for v, w in zip(p50, wander(rng, n, 0.12), strict=True)
    ]
    values = {
        "request_rate": [workload.rps * x for x in load],
        "error_ratio": [workload.error * w for w in wander(rng, n, 0.5)],
        "latency_p50": p50,
        "latency_p99": p99,
        "cpu_saturation": [
            0.25 + 0.35 * x * w for x, w in zip(load, wander(rng, n, 0.05), strict=True)
        ],
        "memory_saturation": [workload.memory * w for w in wander(rng, n, 0.02, 0.98)],
        "restarts": restart_counter(spec, workload),
        "replicas_available": [float(workload.replicas)] * n,
    }
    inject_fault(spec, workload, values)
    return Tracks(load, values)


# -- events ----------------------------------------------------------------------------------


def arrivals(rng: random.Random, spec: Spec, per_hour: float) -> list[datetime]:
    """Poisson arrival times over the window."""
    times: list[datetime] = []
    at = START
    while True:
        at += timedelta(hours=rng.expovariate(per_hour))
        if at >= spec.end:
            return times
        times.append(at.replace(microsecond=0))


def quiet(spec: Spec, workload: Workload, at: datetime) -> bool:
    """Whether a background event at ``at`` would disturb the fault's call tree."""
    in_tree = workload.index // GROUP == fault_target(spec) // GROUP
    return in_tree and abs(at - spec.onset) < QUIET_ZONE


def background(spec: Spec, workload: Workload) -> list[Event]:
    """Background events of one workload, spread over the window."""
    rng, out = workload.rng, []
    for kind, rate in PER_HOUR.items():
        for at in arrivals(rng, spec, rate):
            if quiet(spec, workload, at):
                continue
            reason = rng.choice(K8S_REASONS) if kind == "kubernetes" else kind
            out.append(Event(at, kind, reason, f"{kind} on {workload.name}"))
            if kind == "deploy":
                done = at + timedelta(seconds=rng.randint(60, 240))
                out.append(Event(done, "rollout_complete", "NewReplicaSetAvailable"))
            if kind == "pod_crash":
                workload.crashes.append(at)
    return out


def fault_events(spec: Spec) -> list[Event]:
    """The bad deploy and the human's rollback, each followed by its rollout_complete."""
    bad, back = spec.onset, spec.onset + timedelta(minutes=FAULT_MINUTES)
    done = timedelta(seconds=90)
    return [
        Event(bad, "deploy", "DeploymentUpdated", "bad release", fault="bad"),
        Event(bad + done, "rollout_complete", "NewReplicaSetAvailable"),
        Event(back, "deploy", "DeploymentRollback", "rolled back", fault="rollback"),
        Event(back + done, "rollout_complete", "NewReplicaSetAvailable"),
    ]


def stamp(at: datetime) -> str:
    """RFC 3339 with a Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_events(workload: Workload, events: Iterable[Event], end: datetime) -> None:
    """Assign revisions in time order and keep the JSON events on ``workload``."""
    current, newest = FIRST_REVISION, FIRST_REVISION
    history = [FIRST_REVISION]
    for event in sorted(events, key=lambda e: e.at):
        if event.at > end:
            continue
        body: dict[str, Any] = {"time": stamp(event.at), "kind": event.kind, "reason": event.reason}
        body |= {"workload": workload.ref, "message": event.message}
        if event.kind == "deploy":
            previous = current
            current = history[-2] if event.fault == "rollback" else newest + 1
            newest = max(newest, current)
            history.append(current)
            if event.fault == "rollback":
                workload.fault_revisions = (previous, current)
            image = f"{REGISTRY}/{workload.name}:1.{current}.0"
            body |= {"revision": current, "previous_revision": previous, "image": image}
            body |= {"actor": "oncall@example.com" if event.fault == "rollback" else "ci-bot"}
        workload.events.append(body)


def events_of(spec: Spec, workload: Workload) -> None:
    """Every event of one workload (background and fault), rendered onto it."""
    events = background(spec, workload) if spec.events else []
    if workload.index == fault_target(spec):
        events += fault_events(spec)
    render_events(workload, events, spec.end)


# -- the file --------------------------------------------------------------------------------


def numbers(values: Sequence[float | None]) -> str:
    """A JSON array of numbers with 4 significant digits; None is ``null``."""
    return "[" + ",".join("null" if v is None else f"{v:.4g}" for v in values) + "]"


def with_gaps(rng: random.Random, values: Sequence[float]) -> list[float | None]:
    """Rare missing samples, never two in a row (a gap stays shorter than ``stale_after``)."""
    out: list[float | None] = list(values)
    k = 1
    while k < len(out) - 1:
        if rng.random() < MISSING:
            out[k] = None
            k += 1
        k += 1
    return out


def inventory(workload: Workload) -> dict[str, Any]:
    """The workload's inventory at the window start."""
    n = workload.replicas
    revisions = [
        {
            "revision": r,
            "image": f"{REGISTRY}/{workload.name}:1.{r}.0",
            "created": stamp(START - timedelta(days=30 - 7 * r)),
            "change_cause": f"release 1.{r}.0",
        }
        for r in range(1, FIRST_REVISION + 1)
    ]
    hpa = {"name": workload.name, "min_replicas": 2, "max_replicas": 12}
    return {
        "ref": workload.ref,
        "replicas": {"desired": n, "ready": n, "available": n, "updated": n},
        "resources": {
            "cpu_request_cores": 0.5,
            "cpu_limit_cores": 1.0,
            "memory_request_bytes": 268435456,
            "memory_limit_bytes": 536870912,
        },
        "hpa": hpa | {"target_cpu_utilization": 0.7} if workload.hpa else None,
        "scaling_owner": "hpa" if workload.hpa else "none",
        "revisions": revisions,
        "current_revision": FIRST_REVISION,
        "slo": {"availability": 0.999, "latency_p99_seconds": 0.8},
        "labels": {"app.kubernetes.io/name": workload.name},
    }


Writer = Callable[[str], object]


def write_series(spec: Spec, workload: Workload, t: Tracks, stamps: str, out: Writer) -> None:
    """One JSON object per signal of ``workload``, each preceded by a comma but the very first."""
    for signal in spec.signals:
        values = with_gaps(workload.rng, t.values[signal])
        head = json.dumps({"workload": workload.ref, "signal": signal, "unit": UNITS[signal]})
        lead = "" if workload.index == 0 and signal == spec.signals[0] else ","
        out(f'{lead}{head[:-1]},"timestamps":{stamps},"values":{numbers(values)}}}')


def trace_series(workload: Workload, t: Tracks, stamps: str) -> list[str]:
    """The service's own trace series and the edge from its caller, as JSON objects."""
    v = t.values
    columns = (
        f'"rate":{numbers(v["request_rate"])},"error_ratio":{numbers(v["error_ratio"])},'
        f'"latency_p50_seconds":{numbers(v["latency_p50"])},'
        f'"latency_p99_seconds":{numbers(v["latency_p99"])}'
    )
    found = [f'{{"caller":null,"callee":"{workload.name}","timestamps":{stamps},{columns}}}']
    caller = parent(workload.index)
    if caller is not None:
        name = f"svc-{caller:04d}"
        found.append(
            f'{{"caller":"{name}","callee":"{workload.name}","timestamps":{stamps},{columns}}}'
        )
    return found


def header(spec: Spec) -> dict[str, Any]:
    """Everything before the workloads."""
    spaces = sorted({f"shop-{i // NAMESPACE_SIZE}" for i in range(spec.workloads)})
    return {
        "apiVersion": "aiops.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": spec.name,
            "title": f"benchmark: {spec.workloads} workloads over {spec.hours:g}h",
            "description": "Synthetic fleet with one bad deploy (bench/synth.py).",
            "source": "synthetic",
        },
        "window": {"start": stamp(START), "end": stamp(spec.end), "step": f"{spec.step_seconds}s"},
        "namespaces": [{"name": s, "labels": {"aiops.dev/remediate": "enabled"}} for s in spaces],
    }


def footer(spec: Spec, target: Workload) -> dict[str, Any]:
    """What the human did and what really happened."""
    bad, good = target.fault_revisions or (FIRST_REVISION + 1, FIRST_REVISION)
    when = spec.onset + timedelta(minutes=FAULT_MINUTES)
    action: dict[str, Any] = {"kind": "rollback", "target": target.ref, "from_revision": bad}
    action |= {"to_revision": good, "to_image": f"{REGISTRY}/{target.name}:1.{good}.0"}
    approval: dict[str, Any] = {"time": stamp(spec.onset + timedelta(minutes=APPROVAL_MINUTES))}
    approval |= {"workload": target.ref, "action_kind": "rollback", "outcome": "approved"}
    approval |= {"approver": "oncall@example.com"}
    return {
        "recorded": {
            "actions": [{"time": stamp(when), "actor": "oncall@example.com", "action": action}],
            "approvals": [approval],
        },
        "ground_truth": {
            "fault": "bad_deploy",
            "onset": stamp(spec.onset),
            "root_cause": target.ref,
            "acceptable_actions": ["rollback"],
            "forbidden_actions": ["scale", "adjust_hpa", "restart"],
        },
    }


def write_incident(spec: Spec, out: IO[str]) -> None:
    """Stream the whole incident file for ``spec`` into ``out``."""
    if spec.workloads < 1 or spec.samples < 3:
        raise ValueError("need at least one workload and three samples")
    first = int(START.timestamp())
    stamps = "[" + ",".join(str(first + k * spec.step_seconds) for k in range(spec.samples)) + "]"
    workloads = [make_workload(spec, i) for i in range(spec.workloads)]
    for workload in workloads:
        events_of(spec, workload)
    out.write(json.dumps(header(spec))[:-1])
    out.write(',"workloads":' + json.dumps([inventory(w) for w in workloads]) + ',"series":[')
    traces: list[str] = []
    for workload in workloads:
        t = tracks(spec, workload)
        write_series(spec, workload, t, stamps, out.write)
        if spec.traces:
            traces += trace_series(workload, t, stamps)
    out.write('],"traces":[' + ",".join(traces) + "]")
    events = sorted((e for w in workloads for e in w.events), key=lambda e: str(e["time"]))
    out.write(
        ',"events":'
        + json.dumps(events)
        + ","
        + json.dumps(footer(spec, workloads[fault_target(spec)]))[1:]
    )


def generate(spec: Spec, directory: Path) -> Path:
    """The file for ``spec`` in ``directory``, written once and reused (it is deterministic)."""
    path = directory / f"{spec.name}.json"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("w", encoding="utf-8") as out:
        write_incident(spec, out)
    partial.replace(path)
    return path
