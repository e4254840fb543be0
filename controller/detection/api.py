"""The detection entry point the replay engine and the live loop call once per tick.

``detect`` is a pure function of ``(views, state, settings, now)``: no clock, no I/O. The
returned state is passed back on the next tick; it carries hysteresis latches, open incidents
and blindness so that decisions do not flap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from controller.detection.context import DetectorInput
from controller.detection.detectors import run_detectors, step_latches
from controller.detection.incidents import Lifecycle, Tick, step_incident
from controller.detection.inputs import blind_spot, problems_of, usable_windows
from controller.detection.quiet import QUIET_LIFECYCLE, Gate
from controller.detection.state import EMPTY_MEMORY, DetectionState, WorkloadMemory
from controller.models.base import epoch
from controller.models.events import ClusterEvent
from controller.models.incident import BlindSpot, Finding, Incident, WorkloadStatus
from controller.models.signals import Signal, SignalWindow
from controller.models.workloads import WorkloadInventory, WorkloadRef
from controller.settings import DetectionSettings


@dataclass(frozen=True, slots=True)
class WorkloadView:
    """One workload as observed at a tick.

    ``windows``: a missing key means no data at all for that signal. ``events``: this
    workload's events with time <= now, oldest first.
    """

    inventory: WorkloadInventory
    windows: Mapping[Signal, SignalWindow]
    events: tuple[ClusterEvent, ...]


@dataclass(frozen=True, slots=True)
class DetectionOutcome:
    """Everything detection concluded at one tick (all tuples ordered by workload key)."""

    state: DetectionState
    opened: tuple[Incident, ...]
    updated: tuple[Incident, ...]
    resolved: tuple[Incident, ...]
    open: tuple[Incident, ...]
    blind: tuple[BlindSpot, ...]
    newly_blind: tuple[BlindSpot, ...]
    sight_restored: tuple[WorkloadRef, ...]
    statuses: Mapping[str, WorkloadStatus]


@dataclass(frozen=True, slots=True)
class Judgement:
    """One workload's result at one tick."""

    workload: WorkloadRef
    memory: WorkloadMemory
    lifecycle: Lifecycle
    newly_blind: bool
    sight_restored: bool
    status: WorkloadStatus


def as_utc(now: datetime) -> datetime:
    """Reject naive datetimes: a silent local-time guess would shift every window."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("detect() needs a timezone-aware `now` (UTC)")
    return now.astimezone(UTC)


def status_of(
    findings: tuple[Finding, ...], blind: BlindSpot | None, incident: Incident | None
) -> WorkloadStatus:
    """Findings make a workload unhealthy even when blind; missing data is never healthy.

    A workload whose incident is still open (findings not yet seen clear for long enough)
    is not healthy either.
    """
    if findings:
        return WorkloadStatus.UNHEALTHY
    if blind is not None:
        return WorkloadStatus.BLIND
    if incident is not None:
        return WorkloadStatus.UNHEALTHY
    return WorkloadStatus.HEALTHY


def judge(
    view: WorkloadView, memory: WorkloadMemory, settings: DetectionSettings, now: datetime
) -> Judgement:
    """Run blindness, latches, detectors and the incident lifecycle for one workload."""
    return judge_events(view, events_until(view, now), memory, settings, now)


def events_until(view: WorkloadView, now: datetime) -> tuple[ClusterEvent, ...]:
    """The view's events at or before ``now`` (the view should hold no later ones)."""
    return tuple(event for event in view.events if event.time <= now)


def quiet_judgement(workload: WorkloadRef) -> Judgement:
    """What ``judge`` concludes for a workload ``Gate.quiet`` vouches for: healthy, with
    nothing to remember (equal, field by field, to the judgement ``judge`` would build)."""
    return Judgement(
        workload=workload,
        memory=EMPTY_MEMORY,
        lifecycle=QUIET_LIFECYCLE,
        newly_blind=False,
        sight_restored=False,
        status=WorkloadStatus.HEALTHY,
    )


def judge_events(
    view: WorkloadView,
    events: tuple[ClusterEvent, ...],
    memory: WorkloadMemory,
    settings: DetectionSettings,
    now: datetime,
) -> Judgement:
    """``judge`` with the view's events already cut at ``now``."""
    at = epoch(now)
    inventory = view.inventory
    problems = problems_of(view.windows, settings)
    usable = usable_windows(view.windows, settings, problems)
    latches = step_latches(usable, memory.latches, inventory, settings)
    inputs = DetectorInput(inventory, usable, events, latches, settings, at)
    findings = run_detectors(inputs)
    since = memory.blind.since if memory.blind is not None else now
    blind = blind_spot(inventory.ref, view.windows, settings, since, problems)
    tick = Tick(inventory.ref, findings, usable, events, settings, at)
    lifecycle = step_incident(tick, memory.incident, memory.retained)
    return Judgement(
        workload=inventory.ref,
        memory=WorkloadMemory.build(latches, lifecycle.incident, lifecycle.retained, blind),
        lifecycle=lifecycle,
        newly_blind=blind is not None and memory.blind is None,
        sight_restored=blind is None and memory.blind is not None,
        status=status_of(findings, blind, lifecycle.incident),
    )


def _views_by_key(views: Sequence[WorkloadView]) -> dict[str, WorkloadView]:
    """Views sorted by workload key (outputs are ordered, never input-order dependent)."""
    by_key: dict[str, WorkloadView] = {}
    for view in views:
        key = view.inventory.ref.key
        if key in by_key:
            raise ValueError(f"two views for workload {key}")
        by_key[key] = view
    return dict(sorted(by_key.items()))


def _outcome(
    judgements: Sequence[Judgement],
    memories: Mapping[str, WorkloadMemory],
    statuses: Mapping[str, WorkloadStatus],
) -> DetectionOutcome:
    """Collect per-workload judgements into the tick's outcome, ordered by workload key.

    ``judgements`` are those of the workloads judged in full; ``statuses`` covers every
    workload of the tick (quiet ones are healthy and contribute nothing else).
    """
    state = DetectionState.of(memories)
    kept = [state.workloads[key] for key in sorted(state.workloads)]
    return DetectionOutcome(
        state=state,
        opened=tuple(
            j.lifecycle.incident for j in judgements if j.lifecycle.opened and j.lifecycle.incident
        ),
        updated=tuple(
            j.lifecycle.incident for j in judgements if j.lifecycle.updated and j.lifecycle.incident
        ),
        resolved=tuple(j.lifecycle.resolved for j in judgements if j.lifecycle.resolved),
        open=tuple(m.incident for m in kept if m.incident is not None),
        blind=tuple(m.blind for m in kept if m.blind is not None),
        newly_blind=tuple(j.memory.blind for j in judgements if j.newly_blind and j.memory.blind),
        sight_restored=tuple(j.workload for j in judgements if j.sight_restored),
        statuses=MappingProxyType(dict(statuses)),
    )


def detect(
    views: Sequence[WorkloadView],
    state: DetectionState,
    settings: DetectionSettings,
    now: datetime,
) -> DetectionOutcome:
    """Judge every workload at ``now`` and advance the detection state by one tick.

    Workloads absent from ``views`` keep their memory unchanged (an open incident stays open,
    a blind workload stays blind): not being looked at is not evidence of recovery.
    Raises ValueError for a naive ``now`` or two views of the same workload.
    """
    now = as_utc(now)
    at, gate = epoch(now), Gate.of(settings)
    memories = dict(state.workloads)
    judgements: list[Judgement] = []
    statuses: dict[str, WorkloadStatus] = {}
    for key, view in _views_by_key(views).items():
        memory = state.memory(key)
        events = events_until(view, now)
        if gate.quiet(memory, view.inventory, view.windows, events, at):
            # judge would return quiet_judgement(...): healthy, an empty memory, nothing else.
            statuses[key] = WorkloadStatus.HEALTHY
            if key in memories:
                memories[key] = EMPTY_MEMORY
            continue
        judgement = judge_events(view, events, memory, settings, now)
        judgements.append(judgement)
        memories[key] = judgement.memory
        statuses[key] = judgement.status
    return _outcome(judgements, memories, statuses)
