"""Diagnosis: ranked fault hypotheses for one workload's findings, lead first.

Change correlation comes first because it is the most common cause of incidents and the one
with the safest fix: a deploy or config change shortly *before* the onset of errors, latency
or crashes makes that change the prime suspect. Without a change, the findings themselves
point at the cause. Every other plausible explanation is kept as a lower-ranked alternative so
that a human (or the planner) sees what was considered, with the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.models.base import format_duration
from controller.models.events import ClusterEvent
from controller.models.incident import FaultKind, Finding, FindingKind, Hypothesis
from controller.models.workloads import WorkloadRef

SYMPTOMS = frozenset({FindingKind.SLO_BURN, FindingKind.LATENCY})
"""User-visible errors and latency: what a bad change shows up as."""

CRASHES = (FindingKind.CRASH_LOOP, FindingKind.RESTART_BURST)

LEAD_WITH_CHANGE = 0.85
LEAD_FROM_FINDINGS = 0.7
LEAD_UNKNOWN = 0.3
DECAY = 0.5
"""Each lower rank gets half the confidence of the one above it."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fault that fits the findings, before ranking."""

    fault: FaultKind
    rationale: str
    change: ClusterEvent | None = None


def onset_of(findings: Iterable[Finding]) -> datetime:
    """The earliest ``since`` of the findings."""
    return min(finding.since for finding in findings)


def symptom_onset(findings: Sequence[Finding]) -> datetime:
    """Onset of the findings a change would explain (errors, latency, crashes).

    A slow condition such as idle CPU may have started hours before the change broke
    something; measuring from it would hide the change.
    """
    relevant = [f for f in findings if f.kind in SYMPTOMS or f.kind in CRASHES]
    return onset_of(relevant or findings)


def suspect_change(
    events: Sequence[ClusterEvent], onset: datetime, window: timedelta
) -> ClusterEvent | None:
    """The newest deploy or config change within ``window`` before (or at) ``onset``."""
    suspects = [e for e in events if e.is_change and onset - window <= e.time <= onset]
    return suspects[-1] if suspects else None


def describe_change(change: ClusterEvent, onset: datetime) -> str:
    """One line about a change and how long before the onset it happened."""
    revision = ""
    if change.revision is not None:
        previous = f" (from {change.previous_revision})" if change.previous_revision else ""
        revision = f" to revision {change.revision}{previous}"
    image = f" image {change.image}" if change.image else ""
    before = format_duration(onset - change.time)
    return (
        f"{change.kind.value}{revision}{image} at {change.time:%Y-%m-%dT%H:%M:%SZ}, "
        f"{before} before the onset at {onset:%H:%M:%SZ}"
    )


def summarise(findings: Iterable[Finding]) -> str:
    """The findings' own numbers, joined."""
    return "; ".join(f"{finding.kind.value}: {finding.detail}" for finding in findings)


def _of(findings: Sequence[Finding], kinds: Iterable[FindingKind]) -> list[Finding]:
    """The findings of the given kinds, in their original order."""
    wanted = frozenset(kinds)
    return [finding for finding in findings if finding.kind in wanted]


def change_candidates(findings: Sequence[Finding], change: ClusterEvent) -> list[Candidate]:
    """A crash loop or bad deploy attributed to ``change``, crashes first."""
    onset = symptom_onset(findings)
    said = describe_change(change, onset)
    out: list[Candidate] = []
    if crashes := _of(findings, CRASHES):
        out.append(Candidate(FaultKind.CRASH_LOOP, f"{said}; {summarise(crashes)}", change))
    if symptoms := _of(findings, SYMPTOMS):
        out.append(Candidate(FaultKind.BAD_DEPLOY, f"{said}; {summarise(symptoms)}", change))
    return out


def finding_candidates(
    findings: Sequence[Finding], change: ClusterEvent | None, change_note: str
) -> list[Candidate]:
    """Causes read off the findings themselves, in the order they should lead."""
    kinds = {finding.kind for finding in findings}
    rules: list[tuple[FaultKind, tuple[FindingKind, ...], bool]] = [
        (FaultKind.SATURATION, (FindingKind.CPU_SATURATION,), True),
        (FaultKind.MEMORY_LEAK, (FindingKind.MEMORY_LEAK,), True),
        (FaultKind.CRASH_LOOP, CRASHES, change is None),
        (FaultKind.LATENCY_REGRESSION, (FindingKind.LATENCY,), FindingKind.SLO_BURN not in kinds),
        (FaultKind.SATURATION, (FindingKind.MEMORY_SATURATION,), True),
        (FaultKind.OVER_PROVISIONING, (FindingKind.OVER_PROVISIONED,), True),
        (FaultKind.STUCK_ROLLOUT, (FindingKind.STUCK_ROLLOUT,), True),
    ]
    out: list[Candidate] = []
    for fault, needs, applies in rules:
        matched = _of(findings, needs)
        if applies and matched:
            attached = change if fault is FaultKind.STUCK_ROLLOUT else None
            out.append(Candidate(fault, f"{summarise(matched)}; {change_note}", attached))
    return out


def late_candidates(
    findings: Sequence[Finding], change: ClusterEvent | None, change_note: str
) -> list[Candidate]:
    """Explanations that never lead over a specific one.

    Latency together with errors (latency is not alone, so it is no clean regression) and a
    change that precedes only non-user-facing findings.
    """
    kinds = {finding.kind for finding in findings}
    out: list[Candidate] = []
    if FindingKind.LATENCY in kinds and FindingKind.SLO_BURN in kinds:
        latency = summarise(_of(findings, (FindingKind.LATENCY,)))
        out.append(Candidate(FaultKind.LATENCY_REGRESSION, f"{latency}; {change_note}"))
    if change is not None:
        out.append(Candidate(FaultKind.BAD_DEPLOY, f"{change_note}; {summarise(findings)}", change))
    return out


def unknown(findings: Sequence[Finding], change_note: str) -> Candidate:
    """The honest fallback: the findings may have a cause no pattern describes."""
    return Candidate(
        FaultKind.UNKNOWN, f"no known pattern explains: {summarise(findings)}; {change_note}"
    )


def rank(workload: WorkloadRef, candidates: Sequence[Candidate]) -> tuple[Hypothesis, ...]:
    """Turn ordered candidates into hypotheses with strictly falling confidence.

    A fault appears once, at its best rank. The lead's confidence says how it was found:
    change correlation beats a finding pattern, which beats "unknown".
    """
    unique: dict[FaultKind, Candidate] = {}
    for candidate in candidates:
        unique.setdefault(candidate.fault, candidate)
    ordered = list(unique.values())
    lead = ordered[0]
    if lead.fault is FaultKind.UNKNOWN:
        confidence = LEAD_UNKNOWN
    elif lead.change is not None and lead.fault is not FaultKind.STUCK_ROLLOUT:
        confidence = LEAD_WITH_CHANGE
    else:
        confidence = LEAD_FROM_FINDINGS
    return tuple(
        Hypothesis(
            fault=candidate.fault,
            workload=workload,
            confidence=round(confidence * DECAY**position, 4),
            rationale=candidate.rationale,
            change=candidate.change,
        )
        for position, candidate in enumerate(ordered)
    )


def diagnose(
    workload: WorkloadRef,
    findings: Sequence[Finding],
    events: Sequence[ClusterEvent],
    change_window: timedelta,
) -> tuple[Hypothesis, ...]:
    """Ranked hypotheses for ``findings`` (non-empty), lead first.

    ``events`` are the workload's events up to now, oldest first.
    """
    if not findings:
        raise ValueError("diagnose needs at least one finding")
    onset = symptom_onset(findings)
    change = suspect_change(events, onset, change_window)
    window = format_duration(change_window)
    change_note = (
        f"no deploy or config change within {window} before the onset at {onset:%H:%M:%SZ}"
        if change is None
        else f"a change preceded the onset: {describe_change(change, onset)}"
    )
    specific = change_candidates(findings, change) if change is not None else []
    specific += finding_candidates(findings, change, change_note)
    late = late_candidates(findings, change, change_note)
    fallback = [unknown(findings, change_note)]
    return rank(workload, specific + late + fallback if specific else fallback + late)
