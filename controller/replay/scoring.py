"""Score a replay against the incident file's ground truth.

Pure and deterministic: models in, a ``Score`` out, no clock and no I/O, so a score can be
recomputed from a saved replay result and two replays of one file always score the same.

Each question becomes a ``ScoreCheck`` whose detail quotes the numbers behind it, because a
reader of a postmortem must be able to see *why* a check failed without re-running anything.
``passed=None`` means the question does not apply to this incident (for example the root
cause on a fault-free day); it never counts as a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.models.actions import MUTATING_KINDS, ActionKind, Plan
from controller.models.base import format_duration
from controller.models.decisions import ActionResult, ActionStatus
from controller.models.incident import FaultKind, Incident
from controller.models.incident_file import GroundTruth
from controller.replay.result import Score, ScoreCheck

EFFECTIVE_STATUSES = frozenset({ActionStatus.APPLIED, ActionStatus.ALREADY_DONE})
"""Statuses of an action that took effect on the cluster."""

DECIDED_STATUSES = EFFECTIVE_STATUSES | {ActionStatus.DRY_RUN}
"""Statuses of an action the controller decided on, including a dry run (shadow mode)."""

PASSIVE_KINDS = frozenset({ActionKind.NO_ACTION, ActionKind.ESCALATE})
"""Kinds that make "nothing took effect" an acceptable outcome when the truth lists them."""

CHECK_DETECTED = "detected"
CHECK_TIME_TO_DETECT = "time to detect"
CHECK_ROOT_CAUSE = "root cause"
CHECK_ACTION = "action acceptable"
CHECK_FORBIDDEN = "no forbidden action"
DRY_RUN_ONLY = " (dry run only)"
"""Suffix of the action check names when they judged dry-run actions because none took effect."""
CHECK_ACTION_DRY_RUN = CHECK_ACTION + DRY_RUN_ONLY
CHECK_FORBIDDEN_DRY_RUN = CHECK_FORBIDDEN + DRY_RUN_ONLY


def took_effect(result: ActionResult) -> bool:
    """Whether an action changed the cluster (a dry run did not)."""
    return result.status in EFFECTIVE_STATUSES


def was_decided(result: ActionResult) -> bool:
    """Whether the controller decided to run an action: it took effect or ran in dry run."""
    return result.status in DECIDED_STATUSES


def score_replay(
    truth: GroundTruth,
    incidents: Sequence[Incident],
    plans: Sequence[Plan],
    actions: Sequence[ActionResult],
) -> Score:
    """Answer the scoring questions for one replay; ``passed`` needs every applicable check.

    Reverts (``revert_of`` set) are left out of the action checks: undoing an own action after
    a failed verification is the safety net working, not a second remediation.

    Dry runs never count as taken. When nothing took effect but the policy ran actions in dry
    run (shadow mode), the action checks judge those instead, under their own names
    (``action acceptable (dry run only)``) and with ``Score.dry_run_only`` set: the score then
    says what the controller *would* have done. A forbidden kind decided in dry run fails the
    forbidden check without counting as ``forbidden_action_taken``.
    """
    ordered = sorted(incidents, key=lambda incident: (incident.opened_at, incident.id))
    primary = _primary_incident(truth, ordered)
    own = [a for a in actions if a.revert_of is None]
    effective = [a for a in own if took_effect(a)]
    dry_runs = [a for a in own if a.status is ActionStatus.DRY_RUN]
    judged = _Judged(effective, dry_runs)
    time_to_detect, ttd_check = _check_time_to_detect(truth, primary)
    forbidden = _forbidden_taken(truth, effective)
    checks = (
        _check_detected(truth, ordered, primary),
        ttd_check,
        _check_root_cause(truth, primary),
        _check_action(truth, judged, plans),
        _check_forbidden(truth, forbidden, _forbidden_taken(truth, dry_runs), judged.dry_run_only),
    )
    return Score(
        detected=bool(ordered),
        time_to_detect=time_to_detect,
        root_cause_correct=checks[2].passed,
        action_acceptable=checks[3].passed,
        dry_run_only=judged.dry_run_only,
        forbidden_action_taken=bool(forbidden),
        checks=checks,
        passed=all(check.passed is not False for check in checks) and not forbidden,
    )


@dataclass(frozen=True, slots=True)
class _Judged:
    """The actions the action check looks at: those that took effect, else the dry runs."""

    effective: Sequence[ActionResult]
    dry_runs: Sequence[ActionResult]

    @property
    def dry_run_only(self) -> bool:
        return bool(self.dry_runs) and not self.effective

    @property
    def actions(self) -> Sequence[ActionResult]:
        return self.dry_runs if self.dry_run_only else self.effective

    @property
    def name(self) -> str:
        return CHECK_ACTION_DRY_RUN if self.dry_run_only else CHECK_ACTION

    def took(self) -> str:
        """``"1 action took effect (rollback)"`` or, in shadow mode, what ran in dry run."""
        kinds = _names(_kinds(self.actions))
        if self.dry_run_only:
            return f"nothing took effect; {_plural(len(self.dry_runs), 'dry-run action')} ({kinds})"
        took = f"{_plural(len(self.effective), 'action')} took effect ({kinds})"
        if self.dry_runs:
            dry = _names(_kinds(self.dry_runs))
            took += f", {len(self.dry_runs)} more in dry run only ({dry})"
        return took


def _primary_incident(truth: GroundTruth, ordered: Sequence[Incident]) -> Incident | None:
    """The incident the score is about: the first on the root cause, else the first at all."""
    if truth.root_cause is not None:
        on_root = [i for i in ordered if i.workload == truth.root_cause]
        if on_root:
            return on_root[0]
    return ordered[0] if ordered else None


def _check_detected(
    truth: GroundTruth, ordered: Sequence[Incident], primary: Incident | None
) -> ScoreCheck:
    """A fault must open an incident; a fault-free day must open none."""
    count = _plural(len(ordered), "incident")
    if truth.fault is FaultKind.NONE:
        if not ordered:
            return ScoreCheck(
                name=CHECK_DETECTED,
                passed=True,
                detail="no incident opened on a fault-free day (no false detection)",
            )
        first = ordered[0]
        return ScoreCheck(
            name=CHECK_DETECTED,
            passed=False,
            detail=f"false detection: {count} opened on a fault-free day, the first on "
            f"{first.workload} at {_clock(first.opened_at)}",
        )
    if primary is None:
        return ScoreCheck(
            name=CHECK_DETECTED,
            passed=False,
            detail=f"no incident opened; the {truth.fault.value} fault went undetected",
        )
    where = f"incident {primary.id} opened on {primary.workload} at {_clock(primary.opened_at)}"
    if truth.root_cause is not None and primary.workload != truth.root_cause:
        where += f", none on the root-cause workload {truth.root_cause}"
    return ScoreCheck(name=CHECK_DETECTED, passed=True, detail=f"{where} ({count} in all)")


def _check_time_to_detect(
    truth: GroundTruth, primary: Incident | None
) -> tuple[timedelta | None, ScoreCheck]:
    """Informational: how long after onset the incident opened (clamped at zero in the score).

    ``Score.time_to_detect`` is a non-negative duration, so a detection before the recorded
    onset is stored as zero and the detail sentence says "before onset" with the real gap.
    """
    if truth.fault is FaultKind.NONE or truth.onset is None:
        return None, ScoreCheck(name=CHECK_TIME_TO_DETECT, passed=None, detail="no fault to detect")
    if primary is None:
        return None, ScoreCheck(name=CHECK_TIME_TO_DETECT, passed=None, detail="nothing detected")
    delta = primary.opened_at - truth.onset
    relation = "after" if delta >= timedelta(0) else "before"
    detail = (
        f"incident {primary.id} opened {format_duration(abs(delta))} {relation} onset "
        f"(onset {_clock(truth.onset)}, opened {_clock(primary.opened_at)})"
    )
    return max(delta, timedelta(0)), ScoreCheck(
        name=CHECK_TIME_TO_DETECT, passed=None, detail=detail
    )


def _check_root_cause(truth: GroundTruth, primary: Incident | None) -> ScoreCheck:
    """The lead hypothesis of the scored incident must blame the true root-cause workload."""
    if truth.root_cause is None:
        return ScoreCheck(
            name=CHECK_ROOT_CAUSE, passed=None, detail="ground truth names no root-cause workload"
        )
    if primary is None:
        return ScoreCheck(name=CHECK_ROOT_CAUSE, passed=None, detail="nothing detected")
    lead = primary.lead
    said = (
        f"lead hypothesis of {primary.id}: {lead.fault.value} on {lead.workload} "
        f"(confidence {lead.confidence:.2f})"
    )
    if lead.workload == truth.root_cause:
        return ScoreCheck(name=CHECK_ROOT_CAUSE, passed=True, detail=f"{said}, as in the truth")
    return ScoreCheck(
        name=CHECK_ROOT_CAUSE,
        passed=False,
        detail=f"{said}; the root cause is {truth.fault.value} on {truth.root_cause}",
    )


def _check_action(truth: GroundTruth, judged: _Judged, plans: Sequence[Plan]) -> ScoreCheck:
    """Every judged action must be acceptable; doing nothing only if the truth allows it."""
    kinds = _kinds(judged.actions)
    name = judged.name
    if truth.fault is FaultKind.NONE:
        return _check_fault_free_actions(kinds, name)
    if not truth.acceptable_actions:
        return ScoreCheck(name=name, passed=None, detail="ground truth lists no acceptable actions")
    acceptable = _names(truth.acceptable_actions)
    if not kinds:
        proposed = f"{_plural(len(plans), 'proposal')}, none took effect"
        if PASSIVE_KINDS & set(truth.acceptable_actions):
            return ScoreCheck(
                name=name, passed=True, detail=f"{proposed}; acceptable: {acceptable}"
            )
        return ScoreCheck(
            name=name,
            passed=False,
            detail=f"{proposed}, but the truth expects one of: {acceptable}",
        )
    bad = [kind for kind in kinds if kind not in truth.acceptable_actions]
    if bad:
        return ScoreCheck(
            name=name,
            passed=False,
            detail=f"{judged.took()}; not acceptable: {_names(bad)} (acceptable: {acceptable})",
        )
    return ScoreCheck(name=name, passed=True, detail=f"{judged.took()}; acceptable: {acceptable}")


def _check_fault_free_actions(kinds: Sequence[ActionKind], name: str) -> ScoreCheck:
    """On a fault-free day any mutating action is a needless change to production."""
    mutating = [kind for kind in kinds if kind in MUTATING_KINDS]
    dry = name == CHECK_ACTION_DRY_RUN
    if mutating:
        how = " (dry run)" if dry else ""
        return ScoreCheck(
            name=name,
            passed=False,
            detail=f"mutating action on a fault-free day{how}: {_names(mutating)}",
        )
    how = "was decided, even in dry run," if dry else "took effect"
    return ScoreCheck(
        name=name, passed=True, detail=f"no mutating action {how} on a fault-free day"
    )


def _forbidden_taken(
    truth: GroundTruth, effective: Sequence[ActionResult]
) -> tuple[ActionResult, ...]:
    """The effective actions whose kind the ground truth forbids."""
    forbidden = set(truth.forbidden_actions)
    return tuple(a for a in effective if ActionKind(a.action.kind) in forbidden)


def _check_forbidden(
    truth: GroundTruth,
    taken: Sequence[ActionResult],
    dry_run: Sequence[ActionResult],
    dry_run_only: bool,
) -> ScoreCheck:
    """A forbidden kind taking effect fails the whole score, whatever else went right.

    A forbidden kind that ran in dry run fails this check too (the controller would have
    done it), but it is reported as a dry run and never as taken.
    """
    name = CHECK_FORBIDDEN_DRY_RUN if dry_run_only else CHECK_FORBIDDEN
    if not truth.forbidden_actions:
        return ScoreCheck(name=name, passed=None, detail="ground truth forbids no action kind")
    forbidden = _names(truth.forbidden_actions)
    for actions, how in ((taken, "took effect"), (dry_run, "ran in dry run (not taken)")):
        if actions:
            first = actions[0]
            return ScoreCheck(
                name=name,
                passed=False,
                detail=f"{_plural(len(actions), 'forbidden action')} {how}, the first "
                f"{first.action.kind} at {_clock(first.at)} (forbidden: {forbidden})",
            )
    how = "was decided, even in dry run" if dry_run_only else "took effect"
    return ScoreCheck(
        name=name,
        passed=True,
        detail=f"none of the forbidden kinds {how} (forbidden: {forbidden})",
    )


def _kinds(actions: Iterable[ActionResult]) -> list[ActionKind]:
    """Distinct action kinds in order of first appearance (stable detail sentences)."""
    return list(dict.fromkeys(ActionKind(a.action.kind) for a in actions))


def _names(kinds: Iterable[ActionKind]) -> str:
    """``"rollback, escalate"``: kinds as a comma-separated list."""
    return ", ".join(kind.value for kind in kinds)


def _plural(count: int, noun: str) -> str:
    """``"1 incident"``, ``"2 incidents"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _clock(at: datetime) -> str:
    """UTC wall-clock time for detail sentences."""
    return at.strftime("%H:%M:%SZ")
