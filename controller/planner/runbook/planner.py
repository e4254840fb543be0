"""The deterministic runbook planner: incident + inventory + runbooks -> one Plan (pure).

It runs in shadow beside the LLM planner on every incident and takes over when the model is
unavailable (SAFETY.md R13, A6), so it must never raise on odd inputs and never guess: it picks
the highest-priority runbook matching the incident's lead hypothesis, renders its template from
the inventory, and escalates to a human whenever no runbook matches or the template cannot be
applied safely. Same inputs give the same plan and the same ``plan_hash()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from controller.models.actions import (
    EscalateAction,
    Evidence,
    Plan,
    PlannerKind,
    Risk,
    VerificationSpec,
)
from controller.models.base import format_duration
from controller.models.events import ClusterEvent
from controller.models.incident import Finding, FindingKind, Incident
from controller.models.signals import CANONICAL_UNITS
from controller.models.workloads import WorkloadInventory
from controller.planner.runbook.catalog import Runbook
from controller.planner.runbook.render import Handoff, Rendered, render_action

MAX_RATIONALE = 4000
MAX_REASON = 2000
MAX_DETAIL = 2000
BURN_RATE_UNIT = "x budget"
"""SLO-burn findings carry a burn rate (multiples of the error budget), not the raw ratio."""


def plan_incident(
    incident: Incident,
    inventory: WorkloadInventory,
    runbooks: Sequence[Runbook],
    now: datetime,
) -> Plan:
    """Plan one incident from the runbooks; escalate when none fits or none can be applied.

    ``now`` only dates the explanation (how old the snapshot is); it never changes the action.
    """
    symptom = _symptom_of(incident)
    if symptom is not None:
        return _escalation(incident, None, Risk.LOW, None, symptom, now)
    runbook = select_runbook(incident, runbooks)
    if runbook is None:
        why = f"no runbook matches the lead hypothesis {incident.lead.fault.value}"
        return _escalation(incident, None, Risk.LOW, None, why, now)
    outcome = render_action(runbook.action, incident, inventory)
    if isinstance(outcome, Handoff):
        verification = runbook.verification if runbook.action.kind == "escalate" else None
        risk = runbook.risk if runbook.action.kind == "escalate" else Risk.LOW
        return _escalation(incident, runbook, risk, verification, outcome.reason, now)
    return _action_plan(incident, runbook, outcome, now)


def _symptom_of(incident: Incident) -> str | None:
    """Why not to remediate here: localization ranks another workload as the root cause.

    Scaling or rolling back a caller whose errors come from a failing dependency treats a
    symptom and adds a second change to an incident; the cause's own incident is planned.
    """
    if not incident.candidates:
        return None
    top = incident.candidates[0]
    if top.workload == incident.workload:
        return None
    because = "; ".join(top.reasons[:2]) or f"score {top.score:.2f}"
    return (
        f"{incident.workload} looks like a symptom: localization ranks {top.workload} as the "
        f"likely root cause ({because}); not remediating the symptom"
    )


def runbook_matches(runbook: Runbook, incident: Incident) -> bool:
    """Whether ``runbook`` fits the incident's lead hypothesis, findings and change."""
    lead = incident.lead
    wanted = runbook.matches
    if lead.fault not in wanted.faults:
        return False
    present = {finding.kind for finding in incident.findings}
    if not set(wanted.findings) <= present:
        return False
    return not wanted.requires_change or (lead.change is not None and lead.change.is_change)


def select_runbook(incident: Incident, runbooks: Sequence[Runbook]) -> Runbook | None:
    """Highest priority among the matching runbooks; ties go to the smallest id.

    Version and source break the (invalid, but possible) tie of two runbooks sharing an id, so
    the choice never depends on the order of ``runbooks``.
    """
    candidates = [r for r in runbooks if runbook_matches(r, incident)]
    return min(candidates, key=lambda r: (-r.priority, r.id, -r.version, r.source), default=None)


def _action_plan(incident: Incident, runbook: Runbook, rendered: Rendered, now: datetime) -> Plan:
    """The plan for a successfully rendered runbook action."""
    rationale = " ".join(
        (_matched_head(runbook, incident), _facts(incident, now), f"Action: {rendered.summary}")
    )
    return Plan(
        incident_id=incident.id,
        planner=PlannerKind.RUNBOOK,
        runbook_id=runbook.id,
        action=rendered.action,
        risk=runbook.risk,
        rationale=_clip(rationale, MAX_RATIONALE),
        evidence=build_evidence(incident),
        verification=runbook.verification,
        snapshot_at=incident.snapshot_at,
    )


def _escalation(
    incident: Incident,
    runbook: Runbook | None,
    risk: Risk,
    verification: VerificationSpec | None,
    why: str,
    now: datetime,
) -> Plan:
    """A plan that hands the incident to a human, with the deterministic diagnosis attached.

    ``why`` is the short reason (quoted in the rationale); the action's reason adds the lead
    hypothesis and findings so the escalation message stands on its own.
    """
    if runbook is None:
        head = (
            f"No runbook matched the lead hypothesis {incident.lead.fault.value} on "
            f"{incident.workload} (confidence {incident.lead.confidence:.2f})."
        )
    else:
        head = _matched_head(runbook, incident)
    rationale = f"{head} {_facts(incident, now)} Escalating to a human: {_sentence(why)}"
    reason = f"{_sentence(why)} {_diagnosis(incident)}"
    return Plan(
        incident_id=incident.id,
        planner=PlannerKind.RUNBOOK,
        runbook_id=None if runbook is None else runbook.id,
        action=EscalateAction(target=incident.workload, reason=_clip(reason, MAX_REASON)),
        risk=risk,
        rationale=_clip(rationale, MAX_RATIONALE),
        evidence=build_evidence(incident),
        verification=verification,
        snapshot_at=incident.snapshot_at,
    )


# --- explanation ----------------------------------------------------------------------------


def _matched_head(runbook: Runbook, incident: Incident) -> str:
    """Which runbook was chosen and for which hypothesis."""
    return (
        f"Runbook {runbook.id} v{runbook.version} ({runbook.title}, priority {runbook.priority}) "
        f"matches the lead hypothesis {incident.lead.fault.value} on {incident.workload} "
        f"(confidence {incident.lead.confidence:.2f})."
    )


def _diagnosis(incident: Incident) -> str:
    """Lead hypothesis and findings in one line: what the human receives with an escalation."""
    lead = incident.lead
    return (
        f"Lead hypothesis: {lead.fault.value} on {lead.workload} (confidence "
        f"{lead.confidence:.2f}). Findings: {_findings_text(incident.findings)}."
    )


def _facts(incident: Incident, now: datetime) -> str:
    """The numbers behind the plan: findings, the suspected change, the snapshot's age."""
    parts = [f"Findings: {_findings_text(incident.findings)}."]
    change = incident.lead.change
    if change is not None:
        parts.append(f"Suspected change: {describe_change(change, incident.onset)}.")
    parts.append(
        f"Observations as of {_time(incident.snapshot_at)} "
        f"({_relative(now - incident.snapshot_at, 'old', 'ahead of the planner clock')})."
    )
    return " ".join(parts)


def _findings_text(findings: Sequence[Finding]) -> str:
    """``slo_burn on error_ratio = 16 x budget vs threshold 14.4 over 1h; ...``."""
    return "; ".join(_finding_text(f) for f in findings)


def _finding_text(finding: Finding) -> str:
    """One finding with value versus threshold over its window."""
    unit = _unit(finding)
    suffix = f" {unit}" if unit else ""
    text = finding.kind.value
    if finding.signal is not None and finding.signal.value != text:
        text += f" on {finding.signal.value}"
    if _finite(finding.value) is not None:
        text += f" = {_number(finding.value)}{suffix}"
    if _finite(finding.threshold) is not None:
        text += f" vs threshold {_number(finding.threshold)}{suffix}"
    if finding.window is not None:
        text += f" over {format_duration(finding.window)}"
    return f"{text} ({finding.severity.value}, since {_time(finding.since)})"


def describe_change(change: ClusterEvent, onset: datetime) -> str:
    """``deploy of revision 5 (image shop:1.2), replacing revision 4, at T (3m before onset)``."""
    text = f"{change.kind.value} of {change.workload}"
    if change.revision is not None:
        text += f" to revision {change.revision}"
    if change.image:
        text += f" (image {change.image})"
    if change.previous_revision is not None:
        text += f", replacing revision {change.previous_revision}"
    text += f", at {_time(change.time)} ({_relative(onset - change.time, 'before', 'after')} onset)"
    if change.actor:
        text += f" by {change.actor}"
    return text


def build_evidence(incident: Incident) -> tuple[Evidence, ...]:
    """One Evidence per finding, plus the suspected change when the lead carries one."""
    evidence = [_finding_evidence(f) for f in incident.findings]
    change = incident.lead.change
    if change is not None:
        evidence.append(
            Evidence(
                name=f"change: {change.kind.value}",
                detail=_clip(describe_change(change, incident.onset), MAX_DETAIL),
            )
        )
    return tuple(evidence)


def _finding_evidence(finding: Finding) -> Evidence:
    """A finding as Evidence; non-finite numbers become None so plans compare equal."""
    name = finding.kind.value
    if finding.signal is not None:
        name += f" {finding.signal.value}"
    detail = f"{finding.severity.value}, since {_time(finding.since)}"
    if finding.detail:
        detail += f"; {finding.detail}"
    return Evidence(
        name=name,
        value=_finite(finding.value),
        unit=_unit(finding),
        threshold=_finite(finding.threshold),
        window=finding.window,
        detail=_clip(detail, MAX_DETAIL),
    )


def _unit(finding: Finding) -> str:
    """Unit of a finding's value: burn rate for SLO burn, else the signal's canonical unit."""
    if finding.kind is FindingKind.SLO_BURN:
        return BURN_RATE_UNIT
    return "" if finding.signal is None else CANONICAL_UNITS[finding.signal]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _relative(delta: timedelta, positive: str, negative: str) -> str:
    """``3m before`` / ``3m after`` style wording of a signed duration."""
    if delta < timedelta(0):
        return f"{format_duration(-delta)} {negative}"
    return f"{format_duration(delta)} {positive}"


def _sentence(text: str) -> str:
    stripped = text.strip()
    return stripped if stripped.endswith(".") else f"{stripped}."


def _clip(text: str, limit: int) -> str:
    """One paragraph that fits a model field's max_length, marking any cut.

    Whitespace is collapsed because images, actors and details come from telemetry and
    runbook authors: a newline in them must not break the one-paragraph rationale.
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
