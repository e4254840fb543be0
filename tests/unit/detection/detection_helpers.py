"""Small series, window and view builders for the detection tests.

Series are written as functions of "seconds since T0" so that a test states the shape of a
signal (flat, a step at 10 minutes, a ramp) rather than lists of numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from controller.detection import DetectionOutcome, DetectionState, WorkloadView, detect
from controller.detection.context import DetectorInput
from controller.detection.detectors import step_latches
from controller.detection.inputs import usable_windows
from controller.detection.state import Latch
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import FindingKind
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.models.workloads import (
    HpaSpec,
    ReplicaStatus,
    ScalingOwner,
    SloSpec,
    WorkloadInventory,
    WorkloadRef,
)
from controller.settings import DetectionSettings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = 30.0
WEB = WorkloadRef(namespace="shop", name="web")
SETTINGS = DetectionSettings()

Shape = Callable[[float], float | None]
"""A signal as a function of seconds since T0 (None = a gap)."""

BASELINE: dict[Signal, Shape] = {
    Signal.REQUEST_RATE: lambda s: 10.0,
    Signal.ERROR_RATIO: lambda s: 0.0002,
    Signal.LATENCY_P50: lambda s: 0.05,
    Signal.LATENCY_P99: lambda s: 0.2,
    Signal.CPU_SATURATION: lambda s: 0.5,
    Signal.MEMORY_SATURATION: lambda s: 0.4,
    Signal.RESTARTS: lambda s: 0.0,
    Signal.REPLICAS_AVAILABLE: lambda s: 3.0,
}
"""A healthy workload: every required signal present and calm."""


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def minutes(value: float) -> float:
    """Minutes in seconds (reads better in tables)."""
    return value * 60.0


def const(value: float) -> Shape:
    """A flat signal."""
    return lambda s: value


def step(before: float, after: float, at_s: float) -> Shape:
    """``before`` until ``at_s`` (exclusive), then ``after``."""
    return lambda s: after if s >= at_s else before


def between(base: float, value: float, start: float, end: float) -> Shape:
    """``value`` for start <= s < end, ``base`` elsewhere."""
    return lambda s: value if start <= s < end else base


def series(shape: Shape, start: float, end: float, step_s: float = STEP) -> SeriesData:
    """Sample ``shape`` every ``step_s`` from ``start`` to ``end`` inclusive (seconds after T0)."""
    count = int(round((end - start) / step_s)) + 1
    points = [
        (T0.timestamp() + start + i * step_s, shape(start + i * step_s)) for i in range(count)
    ]
    return SeriesData.from_points(points)


def window(
    signal: Signal,
    data: SeriesData,
    now_s: float,
    *,
    ref: WorkloadRef = WEB,
    health: Health = Health.OK,
    message: str = "",
) -> SignalWindow:
    """A window over ``data`` seen at T0 + ``now_s``."""
    return SignalWindow(
        workload=ref,
        signal=signal,
        source=f"test:{signal.value}",
        observed_at=T0.timestamp() + now_s,
        data=data,
        health=health,
        message=message,
    )


def inventory(
    ref: WorkloadRef = WEB,
    *,
    desired: int = 3,
    hpa_min: int | None = None,
    availability: float = 0.999,
    latency_p99: float | None = None,
) -> WorkloadInventory:
    """A Deployment with an optional HPA and SLO."""
    return WorkloadInventory(
        ref=ref,
        replicas=ReplicaStatus(desired=desired, ready=desired, available=desired, updated=desired),
        hpa=None
        if hpa_min is None
        else HpaSpec(name=ref.name, min_replicas=hpa_min, max_replicas=max(hpa_min, 10)),
        scaling_owner=ScalingOwner.NONE if hpa_min is None else ScalingOwner.HPA,
        slo=SloSpec(availability=availability, latency_p99_seconds=latency_p99),
    )


class Scenario:
    """One workload's recorded history: series per signal plus events, viewable at any time."""

    def __init__(
        self,
        shapes: Mapping[Signal, Shape] | None = None,
        *,
        inv: WorkloadInventory | None = None,
        start: float = -minutes(120),
        end: float = minutes(120),
        events: Iterable[ClusterEvent] = (),
        drop: Iterable[Signal] = (),
        health: Mapping[Signal, Health] | None = None,
    ) -> None:
        self.inventory = inv or inventory()
        merged = {**BASELINE, **(shapes or {})}
        self.data = {
            signal: series(shape, start, end)
            for signal, shape in merged.items()
            if signal not in set(drop)
        }
        self.events = tuple(sorted(events, key=lambda event: event.time))
        self.health = dict(health or {})

    def windows(self, now_s: float) -> dict[Signal, SignalWindow]:
        """Every recorded signal as seen at T0 + ``now_s``."""
        ref = self.inventory.ref
        return {
            signal: window(signal, data, now_s, ref=ref, health=self.health.get(signal, Health.OK))
            for signal, data in self.data.items()
        }

    def view(self, now_s: float) -> WorkloadView:
        """The WorkloadView detect() receives at T0 + ``now_s``."""
        now = at(now_s)
        events = tuple(event for event in self.events if event.time <= now)
        return WorkloadView(self.inventory, self.windows(now_s), events)

    def inputs(
        self,
        now_s: float,
        settings: DetectionSettings = SETTINGS,
        latches: Mapping[FindingKind, Latch] | None = None,
    ) -> DetectorInput:
        """What a detector sees at T0 + ``now_s`` (latches stepped once from ``latches``)."""
        view = self.view(now_s)
        usable = usable_windows(view.windows, settings)
        stepped = step_latches(usable, latches or {}, self.inventory, settings)
        return DetectorInput(
            self.inventory, usable, view.events, stepped, settings, T0.timestamp() + now_s
        )


def event(
    kind: EventKind,
    at_s: float,
    *,
    ref: WorkloadRef = WEB,
    revision: int | None = None,
    reason: str = "",
) -> ClusterEvent:
    """An event at T0 + ``at_s``."""
    return ClusterEvent(time=at(at_s), kind=kind, workload=ref, revision=revision, reason=reason)


def run(
    scenarios: Iterable[Scenario],
    ticks: Iterable[float],
    settings: DetectionSettings = SETTINGS,
    state: DetectionState | None = None,
) -> list[DetectionOutcome]:
    """Call detect() at every tick (seconds after T0), threading the state through."""
    outcomes: list[DetectionOutcome] = []
    current = state or DetectionState.empty()
    scenario_list = list(scenarios)
    for tick in ticks:
        views = [scenario.view(tick) for scenario in scenario_list]
        outcome = detect(views, current, settings, at(tick))
        outcomes.append(outcome)
        current = outcome.state
    return outcomes


def ticks(start: float, end: float, every: float = STEP) -> list[float]:
    """Tick times from ``start`` to ``end`` inclusive (seconds after T0)."""
    count = int(round((end - start) / every)) + 1
    return [start + i * every for i in range(count)]


def first_index(
    outcomes: list[DetectionOutcome], predicate: Callable[[DetectionOutcome], bool]
) -> int | None:
    """Index of the first outcome matching ``predicate``, or None."""
    return next((i for i, outcome in enumerate(outcomes) if predicate(outcome)), None)
