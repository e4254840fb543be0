"""Scoring answers each ground-truth question from what the replay actually did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from controller.models.actions import (
    ActionKind,
    EscalateAction,
    RestartAction,
    RollbackAction,
    ScaleAction,
)
from controller.models.decisions import ActionResult, ActionStatus
from controller.models.incident import FaultKind, Incident
from controller.models.incident_file import GroundTruth
from controller.models.workloads import WorkloadRef
from controller.replay.scoring import score_replay
from tests.unit.report.sample import CHECKOUT, INCIDENT, ONSET, PLAN, TRUTH, WEB, at

K = ActionKind


def incident(workload: WorkloadRef, minutes: float, lead: WorkloadRef | None = None) -> Incident:
    """The sample incident moved to ``workload``, opened at onset + ``minutes``."""
    hypothesis = INCIDENT.lead.model_copy(update={"workload": lead or workload})
    return INCIDENT.model_copy(
        update={
            "id": f"inc-{workload.name}-{minutes}",
            "workload": workload,
            "opened_at": at(minutes),
            "hypotheses": (hypothesis,),
        }
    )


def action(
    kind: ActionKind, status: ActionStatus = ActionStatus.APPLIED, revert_of: str | None = None
) -> ActionResult:
    """An action result of ``kind`` on shop/checkout."""
    built = {
        K.ROLLBACK: RollbackAction(target=CHECKOUT, from_revision=8, to_revision=7),
        K.SCALE: ScaleAction(target=CHECKOUT, from_replicas=4, to_replicas=8),
        K.RESTART: RestartAction(target=CHECKOUT),
        K.ESCALATE: EscalateAction(target=CHECKOUT, reason="page the owner"),
    }[kind]
    return ActionResult(
        plan_hash="p" * 64,
        idempotency_key=f"{kind}-{status}",
        action=built,
        status=status,
        at=at(5),
        revert_of=revert_of,
    )


FAULT_FREE = GroundTruth(fault=FaultKind.NONE)
NAMES = ["detected", "time to detect", "root cause", "action acceptable", "no forbidden action"]
DRY_NAMES = [
    "detected",
    "time to detect",
    "root cause",
    "action acceptable (dry run only)",
    "no forbidden action (dry run only)",
]
DRY = ActionStatus.DRY_RUN


@dataclass(frozen=True)
class Case:
    """One scoring scenario and its expected answers.

    ``expect`` is (detected, root cause, action acceptable, no forbidden action, passed), each
    True, False or None (not applicable); ``detail`` maps check names to quoted fragments;
    ``dry_run_only``: the action checks judged dry-run actions (nothing took effect).
    """

    truth: GroundTruth
    incidents: tuple[Incident, ...]
    actions: tuple[ActionResult, ...]
    expect: tuple[bool | None, bool | None, bool | None, bool | None, bool]
    detail: dict[str, str] = field(default_factory=dict)
    dry_run_only: bool = False


Y, N, NA = True, False, None
CHECKOUT_2M = (incident(CHECKOUT, 2),)

CASES = {
    "bad deploy detected and rolled back": Case(
        TRUTH,
        (incident(CHECKOUT, 2.5),),
        (action(K.ROLLBACK),),
        expect=(Y, Y, Y, Y, Y),
        detail={"time to detect": "2m30s after onset", "action acceptable": "(rollback)"},
    ),
    "fault missed entirely": Case(
        TRUTH,
        (),
        (),
        expect=(N, NA, Y, Y, N),
        detail={"detected": "went undetected", "root cause": "nothing detected"},
    ),
    "fault-free day, nothing opened": Case(
        FAULT_FREE,
        (),
        (),
        expect=(Y, NA, Y, NA, Y),
        detail={"detected": "no false detection", "time to detect": "no fault"},
    ),
    "false detection on a fault-free day": Case(
        FAULT_FREE,
        (incident(WEB, 3),),
        (),
        expect=(N, NA, Y, NA, N),
        detail={"detected": "false detection: 1 incident opened"},
    ),
    "mutating action on a fault-free day": Case(
        FAULT_FREE,
        (),
        (action(K.SCALE),),
        expect=(Y, NA, N, NA, N),
        detail={"action acceptable": "mutating action on a fault-free day: scale"},
    ),
    "escalation on a fault-free day is harmless": Case(
        FAULT_FREE, (), (action(K.ESCALATE),), expect=(Y, NA, Y, NA, Y)
    ),
    "detected on the wrong workload only": Case(
        TRUTH,
        (incident(WEB, 1),),
        (),
        expect=(Y, N, Y, Y, N),
        detail={
            "root cause": "on shop/web (confidence 0.85); the root cause is bad_deploy on shop/ch",
            "detected": "none on the root-cause workload shop/checkout",
        },
    ),
    "symptom workload whose lead blames the root cause": Case(
        TRUTH, (incident(WEB, 1, lead=CHECKOUT),), (action(K.ROLLBACK),), expect=(Y, Y, Y, Y, Y)
    ),
    "forbidden scale took effect": Case(
        TRUTH,
        CHECKOUT_2M,
        (action(K.ROLLBACK), action(K.SCALE)),
        expect=(Y, Y, N, N, N),
        detail={
            "no forbidden action": "1 forbidden action took effect, the first scale",
            "action acceptable": "not acceptable: scale",
        },
    ),
    "dry run of an acceptable rollback is scored as dry run only": Case(
        TRUTH,
        CHECKOUT_2M,
        (action(K.ROLLBACK, DRY),),
        expect=(Y, Y, Y, Y, Y),
        dry_run_only=True,
        detail={
            "action acceptable (dry run only)": "nothing took effect; 1 dry-run action "
            "(rollback); acceptable: rollback",
            "no forbidden action (dry run only)": "none of the forbidden kinds was decided",
        },
    ),
    "dry run of a forbidden restart fails without counting as taken": Case(
        TRUTH,
        CHECKOUT_2M,
        (action(K.RESTART, DRY),),
        expect=(Y, Y, N, N, N),
        dry_run_only=True,
        detail={
            "action acceptable (dry run only)": "not acceptable: restart",
            "no forbidden action (dry run only)": "1 forbidden action ran in dry run (not taken)",
        },
    ),
    "applied rollback is judged alone, a forbidden dry run beside it still fails": Case(
        TRUTH,
        CHECKOUT_2M,
        (action(K.ROLLBACK), action(K.SCALE, DRY)),
        expect=(Y, Y, Y, N, N),
        detail={
            "action acceptable": "1 action took effect (rollback), 1 more in dry run only (scale)",
            "no forbidden action": "1 forbidden action ran in dry run (not taken), the first scale",
        },
    ),
    "dry-run scale on a fault-free day": Case(
        FAULT_FREE,
        (),
        (action(K.SCALE, DRY),),
        expect=(Y, NA, N, NA, N),
        dry_run_only=True,
        detail={
            "action acceptable (dry run only)": "mutating action on a fault-free day (dry run)"
        },
    ),
    "failed action does not count": Case(
        TRUTH,
        CHECKOUT_2M,
        (action(K.SCALE, ActionStatus.FAILED),),
        expect=(Y, Y, Y, Y, Y),
        detail={"action acceptable": "1 proposal, none took effect; acceptable: rollback"},
    ),
    "already done counts": Case(
        TRUTH, CHECKOUT_2M, (action(K.ROLLBACK, ActionStatus.ALREADY_DONE),), expect=(Y, Y, Y, Y, Y)
    ),
    "revert of an own action is excluded": Case(
        TRUTH,
        CHECKOUT_2M,
        (action(K.ROLLBACK), action(K.SCALE, revert_of="q" * 64)),
        expect=(Y, Y, Y, Y, Y),
    ),
    "nothing done when the truth expects a rollback": Case(
        TRUTH.model_copy(update={"acceptable_actions": (K.ROLLBACK,)}),
        CHECKOUT_2M,
        (),
        expect=(Y, Y, N, Y, N),
        detail={"action acceptable": "the truth expects one of: rollback"},
    ),
    "no_action accepted means doing nothing passes": Case(
        TRUTH.model_copy(update={"acceptable_actions": (K.NO_ACTION,), "forbidden_actions": ()}),
        CHECKOUT_2M,
        (),
        expect=(Y, Y, Y, NA, Y),
    ),
    "truth without acceptable list leaves the action unjudged": Case(
        TRUTH.model_copy(update={"acceptable_actions": ()}),
        CHECKOUT_2M,
        (action(K.ROLLBACK),),
        expect=(Y, Y, NA, Y, Y),
    ),
    "no root cause named: any incident counts": Case(
        GroundTruth(fault=FaultKind.UNKNOWN, onset=ONSET),
        (incident(WEB, 4),),
        (),
        expect=(Y, NA, NA, NA, Y),
        detail={"time to detect": "opened 4m after onset"},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_score_table(case: Case) -> None:
    score = score_replay(case.truth, case.incidents, (PLAN,), case.actions)
    by_name = {check.name: check for check in score.checks}
    detected, root_cause, acceptable, no_forbidden, passed = case.expect

    names = DRY_NAMES if case.dry_run_only else NAMES
    assert list(by_name) == names
    answers = [by_name[name].passed for name in names]
    assert answers == [detected, None, root_cause, acceptable, no_forbidden]
    assert score.root_cause_correct is root_cause
    assert score.action_acceptable is acceptable
    assert score.dry_run_only is case.dry_run_only
    taken = no_forbidden is False and not any(a.status is DRY for a in case.actions)
    assert score.forbidden_action_taken is taken
    assert score.passed is passed
    for name, fragment in case.detail.items():
        assert fragment in by_name[name].detail


def test_time_to_detect_uses_first_incident_on_the_root_cause() -> None:
    incidents = (incident(CHECKOUT, 3), incident(WEB, 1), incident(CHECKOUT, 6))

    score = score_replay(TRUTH, incidents, (), ())

    assert score.time_to_detect == timedelta(minutes=3)
    assert "3 incidents in all" in score.checks[0].detail


def test_detection_before_onset_is_clamped_and_said() -> None:
    score = score_replay(TRUTH, (incident(CHECKOUT, -0.5),), (), ())

    assert score.time_to_detect == timedelta(0)
    assert "30s before onset" in score.checks[1].detail


def test_any_incident_counts_when_none_is_on_the_root_cause() -> None:
    score = score_replay(TRUTH, (incident(WEB, 7), incident(WEB, 2)), (), ())

    assert score.detected is True
    assert score.time_to_detect == timedelta(minutes=2)
