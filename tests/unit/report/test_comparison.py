"""Recorded decisions pair with replayed actions by target, same kind first."""

from __future__ import annotations

import pytest

from controller.models.actions import Action, RestartAction, RollbackAction, ScaleAction
from controller.models.decisions import ActionResult, ActionStatus
from controller.models.incident_file import RecordedAction, RecordedDecisions
from controller.replay.comparison import compare_decisions
from controller.replay.result import ComparisonStatus
from tests.unit.report.sample import CHECKOUT, WEB, at

ROLLBACK = RollbackAction(target=CHECKOUT, from_revision=8, to_revision=7)
SCALE_WEB = ScaleAction(target=WEB, from_replicas=4, to_replicas=8)
SCALE_CHECKOUT = ScaleAction(target=CHECKOUT, from_replicas=3, to_replicas=6)
RESTART = RestartAction(target=CHECKOUT)

S = ComparisonStatus


def human(action: Action, minutes: float, actor: str = "alice") -> RecordedAction:
    return RecordedAction(time=at(minutes), actor=actor, action=action)


def replayed(
    action: Action,
    minutes: float,
    status: ActionStatus = ActionStatus.APPLIED,
    revert_of: str | None = None,
) -> ActionResult:
    return ActionResult(
        plan_hash="p" * 64,
        idempotency_key=f"k-{minutes}",
        action=action,
        status=status,
        at=at(minutes),
        revert_of=revert_of,
    )


CASES = {
    "same kind on the same target": (
        [human(ROLLBACK, 6)],
        [replayed(ROLLBACK, 4)],
        [
            (
                S.SAME,
                "rollback shop/checkout rev 8 -> 7 by alice",
                "rollback shop/checkout rev 8 -> 7",
            )
        ],
    ),
    "other kind on the same target": (
        [human(ROLLBACK, 6)],
        [replayed(SCALE_CHECKOUT, 4)],
        [
            (
                S.DIFFERENT,
                "rollback shop/checkout rev 8 -> 7 by alice",
                "scale shop/checkout 3 -> 6 replicas",
            )
        ],
    ),
    "nothing replayed": (
        [human(SCALE_WEB, 7, actor="bob")],
        [],
        [(S.ONLY_RECORDED, "scale shop/web 4 -> 8 replicas by bob", None)],
    ),
    "nothing recorded": (
        [],
        [replayed(SCALE_WEB, 3)],
        [(S.ONLY_REPLAYED, None, "scale shop/web 4 -> 8 replicas")],
    ),
    "different targets never pair": (
        [human(SCALE_WEB, 2)],
        [replayed(ROLLBACK, 4)],
        [
            (S.ONLY_RECORDED, "scale shop/web 4 -> 8 replicas by alice", None),
            (S.ONLY_REPLAYED, None, "rollback shop/checkout rev 8 -> 7"),
        ],
    ),
    "same kind wins over an earlier different kind": (
        [human(RESTART, 1), human(ROLLBACK, 2)],
        [replayed(ROLLBACK, 3)],
        [
            (S.ONLY_RECORDED, "rolling restart of shop/checkout by alice", None),
            (
                S.SAME,
                "rollback shop/checkout rev 8 -> 7 by alice",
                "rollback shop/checkout rev 8 -> 7",
            ),
        ],
    ),
    "the first replayed action is taken": (
        [human(ROLLBACK, 6)],
        [replayed(ROLLBACK, 9), replayed(ROLLBACK, 4)],
        [
            (
                S.SAME,
                "rollback shop/checkout rev 8 -> 7 by alice",
                "rollback shop/checkout rev 8 -> 7",
            ),
            (S.ONLY_REPLAYED, None, "rollback shop/checkout rev 8 -> 7"),
        ],
    ),
    "failed replayed actions took no effect": (
        [human(ROLLBACK, 6)],
        [replayed(ROLLBACK, 4, ActionStatus.FAILED)],
        [(S.ONLY_RECORDED, "rollback shop/checkout rev 8 -> 7 by alice", None)],
    ),
    "dry runs and reverts are labelled": (
        [],
        [
            replayed(SCALE_WEB, 3, ActionStatus.DRY_RUN),
            replayed(
                ScaleAction(target=WEB, from_replicas=8, to_replicas=4), 9, revert_of="h" * 64
            ),
        ],
        [
            (S.ONLY_REPLAYED, None, "scale shop/web 4 -> 8 replicas (dry run)"),
            (S.ONLY_REPLAYED, None, "scale shop/web 8 -> 4 replicas (revert)"),
        ],
    ),
}


@pytest.mark.parametrize(("recorded", "actions", "expected"), CASES.values(), ids=CASES.keys())
def test_pairing(
    recorded: list[RecordedAction],
    actions: list[ActionResult],
    expected: list[tuple[ComparisonStatus, str | None, str | None]],
) -> None:
    rows = compare_decisions(RecordedDecisions(actions=tuple(recorded)), actions)

    assert [(r.status, r.recorded, r.replayed) for r in rows] == expected


def test_rows_carry_workload_and_times_in_time_order() -> None:
    recorded = RecordedDecisions(actions=(human(SCALE_WEB, 7), human(ROLLBACK, 6)))

    rows = compare_decisions(recorded, [replayed(ROLLBACK, 4)])

    assert [(r.workload, r.recorded_at, r.replayed_at) for r in rows] == [
        (CHECKOUT, at(6), at(4)),
        (WEB, at(7), None),
    ]
