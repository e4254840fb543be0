"""One replayed incident file reduced to what the evaluation counts.

Why a reduction and not the ``ReplayResult``: results travel back from worker processes, and a
result carries every chart series and ledger-derived list; the outcome is a few hundred bytes
and says, in the evaluation's own terms, what the controller did with the file.

Definitions (docs/evaluation.md explains them for users):

- *ranking*: every workload the controller ranked as a root-cause candidate, over all its
  incidents (``Incident.candidates``, computed by ``detection.localize.rank_root_causes`` when
  the incident opened), each at its best score, ties broken by which incident opened first
  and then by name. Workloads the controller never ranked come after all ranked ones, so a
  root cause that was never a candidate is in no top-k.
- *fault class*: the lead hypothesis of the incident ``aiops replay`` scores (the first on
  the root-cause workload, else the first at all).
- *acceptable*: the replay's "action acceptable" check, but a fault the controller neither
  acted on nor escalated is not acceptable (unless the truth accepts ``no_action``).
- *first action*: the earliest decision that reached the cluster or a human: an action that
  took effect (or ran in dry run when nothing took effect, as the replay score judges), an
  escalate plan, or an escalation entry. At equal times an action wins over an escalation.
"""

from __future__ import annotations

from datetime import datetime

from controller.models.actions import MUTATING_KINDS, ActionKind
from controller.models.base import FrozenModel
from controller.models.decisions import ActionStatus
from controller.models.incident import FaultKind, Incident
from controller.models.incident_file import GroundTruth, IncidentFile
from controller.replay.result import ReplayResult, Score, TimelineKind
from controller.replay.scoring import (
    CHECK_FORBIDDEN,
    CHECK_FORBIDDEN_DRY_RUN,
    EFFECTIVE_STATUSES,
)

NO_DECISION = "none"
"""``first_action`` when the controller neither acted nor escalated."""


class FileOutcome(FrozenModel):
    """What the evaluation counts for one scored incident file."""

    path: str
    name: str
    fault: FaultKind
    step_seconds: float
    workloads: int
    incidents: int
    detected: bool
    time_to_detect_seconds: float | None = None
    root_cause: str | None = None
    ranking: tuple[str, ...] = ()
    root_rank: int | None = None
    baseline_rank: int | None = None
    predicted_fault: FaultKind | None = None
    first_action: str = NO_DECISION
    action_kinds: tuple[str, ...] = ()
    mutating_actions: int = 0
    acceptable: bool | None = None
    preferred: bool | None = None
    forbidden: bool = False
    remediated: bool = False
    escalated: bool = False
    passed: bool = False
    failed_checks: tuple[str, ...] = ()
    lead: str = ""

    @property
    def fault_free(self) -> bool:
        """A file whose truth says nothing was wrong."""
        return self.fault is FaultKind.NONE

    @property
    def time_to_detect_samples(self) -> float | None:
        """Time to detect in samples of the file's step."""
        if self.time_to_detect_seconds is None or self.step_seconds <= 0:
            return None
        return self.time_to_detect_seconds / self.step_seconds


class Skipped(FrozenModel):
    """A file the evaluation could not score, and why (one line, never a traceback)."""

    path: str
    reason: str


def ranking(incidents: tuple[Incident, ...]) -> tuple[str, ...]:
    """Workload keys the controller ranked, best first (see the module docstring)."""
    best: dict[str, tuple[float, int]] = {}
    ordered = sorted(incidents, key=lambda i: (i.opened_at, i.id))
    for position, incident in enumerate(ordered):
        candidates = incident.candidates or ()
        found = {c.workload.key: c.score for c in candidates}
        found.setdefault(incident.workload.key, 0.0)
        for key, score in found.items():
            if key not in best or score > best[key][0]:
                best[key] = (score, position if key not in best else best[key][1])
    return tuple(sorted(best, key=lambda k: (-best[k][0], best[k][1], k)))


def rank_of(key: str | None, ranked: tuple[str, ...]) -> int | None:
    """1-based rank of ``key`` in ``ranked``; None when absent (or no key)."""
    if key is None or key not in ranked:
        return None
    return ranked.index(key) + 1


def _scored_incident(truth: GroundTruth, incidents: tuple[Incident, ...]) -> Incident | None:
    """The incident ``aiops replay`` scores: the first on the root cause, else the first."""
    ordered = sorted(incidents, key=lambda i: (i.opened_at, i.id))
    on_root = [
        i for i in ordered if truth.root_cause is not None and i.workload == truth.root_cause
    ]
    chosen = on_root or ordered
    return chosen[0] if chosen else None


def _decisions(result: ReplayResult) -> list[tuple[datetime, int, str]]:
    """(time, tie order, kind) of every action taken and every escalation, unsorted."""
    own = [a for a in result.actions if a.revert_of is None]
    effective = [a for a in own if a.status in EFFECTIVE_STATUSES]
    judged = effective or [a for a in own if a.status is ActionStatus.DRY_RUN]
    found = [(a.at, 0, str(a.action.kind)) for a in judged]
    found += [
        (p.snapshot_at, 1, ActionKind.ESCALATE.value)
        for p in result.plans
        if p.action.kind == ActionKind.ESCALATE.value
    ]
    found += [
        (e.at, 1, ActionKind.ESCALATE.value)
        for e in result.timeline
        if e.kind is TimelineKind.ESCALATION
    ]
    return found


def _forbidden(score: Score | None) -> bool:
    """A forbidden kind took effect, or ran in dry run (the replay's check fails on both)."""
    if score is None:
        return False
    judged = {CHECK_FORBIDDEN, CHECK_FORBIDDEN_DRY_RUN}
    return score.forbidden_action_taken or any(
        c.name in judged and c.passed is False for c in score.checks
    )


def _acceptable(truth: GroundTruth, replay_says: bool | None, first: str) -> bool | None:
    """The replay's "action acceptable" check, except that a fault nobody acted on or
    escalated is not handled acceptably (the replay passes "nothing took effect" whenever the
    truth accepts escalate), unless the truth accepts ``no_action``."""
    passive_ok = ActionKind.NO_ACTION in truth.acceptable_actions
    if replay_says and first == NO_DECISION and truth.fault is not FaultKind.NONE:
        return passive_ok
    return replay_says


def outcome_of(incident: IncidentFile, result: ReplayResult, path: str) -> FileOutcome:
    """Reduce one replay of ``incident`` (which must carry ground truth) to its outcome."""
    truth = incident.ground_truth
    if truth is None:
        raise ValueError("outcome_of needs a file with ground truth")
    score = result.score
    ranked = ranking(result.incidents)
    root = None if truth.root_cause is None else truth.root_cause.key
    scored = _scored_incident(truth, result.incidents)
    decisions = sorted(_decisions(result))
    own = [a for a in result.actions if a.revert_of is None]
    effective_kinds = [str(a.action.kind) for a in own if a.status in EFFECTIVE_STATUSES]
    decided_mutating = [
        a
        for a in own
        if a.status in EFFECTIVE_STATUSES | {ActionStatus.DRY_RUN}
        and ActionKind(a.action.kind) in MUTATING_KINDS
    ]
    remediated = any(ActionKind(k) in MUTATING_KINDS for k in effective_kinds)
    first = decisions[0][2] if decisions else NO_DECISION
    preferred = None
    if truth.preferred_actions and truth.fault is not FaultKind.NONE:
        preferred = first in {k.value for k in truth.preferred_actions}
    ttd = None
    if score is not None and score.time_to_detect is not None:
        ttd = score.time_to_detect.total_seconds()
    failed = () if score is None else tuple(c.name for c in score.checks if c.passed is False)
    forbidden = _forbidden(score)
    lead = "" if scored is None else f"{scored.lead.fault.value} on {scored.lead.workload.key}"
    return FileOutcome(
        path=path,
        name=incident.metadata.name,
        fault=truth.fault,
        step_seconds=incident.window.step.total_seconds(),
        workloads=len(incident.workloads),
        incidents=len(result.incidents),
        detected=bool(result.incidents),
        time_to_detect_seconds=ttd,
        root_cause=root,
        ranking=ranked[:10],
        root_rank=rank_of(root, ranked),
        predicted_fault=None if scored is None else scored.lead.fault,
        first_action=first,
        action_kinds=tuple(dict.fromkeys(effective_kinds)),
        mutating_actions=len(decided_mutating),
        acceptable=_acceptable(truth, score.action_acceptable if score else None, first),
        preferred=preferred,
        forbidden=forbidden,
        remediated=remediated,
        escalated=not remediated
        and any(kind == ActionKind.ESCALATE.value for _, _, kind in decisions),
        passed=score is not None and score.passed,
        failed_checks=failed,
        lead=lead,
    )
