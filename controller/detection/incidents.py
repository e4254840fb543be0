"""Incident lifecycle for one workload: open, update, resolve; never flap.

A finding kind stays on the open incident until its detector has *looked* and not seen it for
``clear_for``; a detector whose signals are unusable cannot vouch for recovery, so its kind is
kept. The incident resolves when no kind is left. Firing again later opens a new incident
with a new id, so a resolved incident never silently comes back to life.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from controller.detection.detectors import can_judge
from controller.detection.diagnosis import diagnose
from controller.detection.state import Retained
from controller.models.base import from_epoch
from controller.models.events import ClusterEvent
from controller.models.incident import Finding, FindingKind, Incident, Severity
from controller.models.signals import Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.settings import DetectionSettings

KIND_ORDER = {kind: position for position, kind in enumerate(FindingKind)}


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What happened to one workload's incident at one tick."""

    incident: Incident | None = None
    retained: Mapping[FindingKind, Retained] = field(default_factory=dict)
    opened: bool = False
    updated: bool = False
    resolved: Incident | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """The inputs of one lifecycle step."""

    workload: WorkloadRef
    findings: tuple[Finding, ...]
    usable: Mapping[Signal, SignalWindow]
    events: tuple[ClusterEvent, ...]
    settings: DetectionSettings
    now: float


def incident_id(workload: WorkloadRef, opened_at: datetime) -> str:
    """Stable, deterministic id: ``namespace.name.YYYYmmddTHHMMSSZ``."""
    return f"{workload.namespace}.{workload.name}.{opened_at:%Y%m%dT%H%M%SZ}"


def refresh(held: Finding, before: Retained | None, now: float) -> Retained:
    """Keep the newest numbers of a finding that holds, but its earliest ``since``."""
    if before is not None and before.finding.since < held.since:
        held = held.model_copy(update={"since": before.finding.since})
    return Retained(held, now)


def retain(tick: Tick, before: Mapping[FindingKind, Retained]) -> dict[FindingKind, Retained]:
    """Findings that hold now, plus earlier ones not yet seen clear for ``clear_for``."""
    clear_for = tick.settings.clear_for.total_seconds()
    kept = {f.kind: refresh(f, before.get(f.kind), tick.now) for f in tick.findings}
    for kind, old in before.items():
        if kind in kept:
            continue
        last_seen = old.last_seen if can_judge(kind, tick.usable) else tick.now
        if tick.now - last_seen < clear_for:
            kept[kind] = Retained(old.finding, last_seen)
    return dict(sorted(kept.items(), key=lambda item: KIND_ORDER[item[0]]))


def build_incident(tick: Tick, findings: Sequence[Finding], previous: Incident | None) -> Incident:
    """The incident as of this tick: a new one, or the previous one with fresh contents."""
    now = from_epoch(tick.now)
    onset = min(finding.since for finding in findings)
    if previous is not None:
        onset = min(onset, previous.onset)
    severity = (
        Severity.PAGE if any(f.severity is Severity.PAGE for f in findings) else Severity.TICKET
    )
    opened_at = now if previous is None else previous.opened_at
    return Incident(
        id=incident_id(tick.workload, opened_at) if previous is None else previous.id,
        workload=tick.workload,
        opened_at=opened_at,
        onset=onset,
        severity=severity,
        findings=tuple(findings),
        hypotheses=diagnose(tick.workload, findings, tick.events, tick.settings.change_window),
        snapshot_at=now,
    )


def changed(before: Incident, after: Incident) -> bool:
    """Updated means: another set of finding kinds, or another lead fault."""
    kinds_before = {finding.kind for finding in before.findings}
    kinds_after = {finding.kind for finding in after.findings}
    return kinds_before != kinds_after or before.lead.fault is not after.lead.fault


def step_incident(
    tick: Tick, previous: Incident | None, before: Mapping[FindingKind, Retained]
) -> Lifecycle:
    """Advance one workload's incident by one tick."""
    retained = retain(tick, before if previous is not None else {})
    if not retained:
        return Lifecycle(resolved=previous)
    findings = [kept.finding for kept in retained.values()]
    incident = build_incident(tick, findings, previous)
    return Lifecycle(
        incident=incident,
        retained=retained,
        opened=previous is None,
        updated=previous is not None and changed(previous, incident),
    )
