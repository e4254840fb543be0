"""Line up the decisions recorded in the incident file with what the replay did.

Pure and deterministic. The question a postmortem asks is "would the controller have done what
the humans did?", so rows pair actions by target: the same kind on the same workload is SAME,
another kind on that workload is DIFFERENT, and the rest stand alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from controller.models.actions import Action, describe
from controller.models.decisions import ActionResult, ActionStatus
from controller.models.incident_file import RecordedAction, RecordedDecisions
from controller.models.workloads import WorkloadRef
from controller.replay.result import ComparisonRow, ComparisonStatus
from controller.replay.scoring import was_decided

_STATUS_NOTES = {
    ActionStatus.DRY_RUN: " (dry run)",
    ActionStatus.ALREADY_DONE: " (already done)",
}


@dataclass(frozen=True, slots=True)
class _Pair:
    """A recorded action index and the replayed action index matched to it (or None)."""

    recorded: int
    replayed: int | None


def compare_decisions(
    recorded: RecordedDecisions, actions: Sequence[ActionResult]
) -> tuple[ComparisonRow, ...]:
    """Pair each recorded action with the first replayed action on the same target.

    Replayed actions are those the controller decided on: applied, already done, or run in dry
    run (labelled so); failed ones are left out.

    Same-kind pairs are matched first over all recorded actions, and only the leftovers are
    then paired by target alone; a greedy single pass would pair a recorded scale with a
    replayed rollback and leave the recorded rollback unmatched. Rows come out in time order.
    """
    humans = sorted(recorded.actions, key=lambda r: r.time)
    replayed = sorted((a for a in actions if was_decided(a)), key=lambda a: a.at)
    used: set[int] = set()
    same = _match(humans, replayed, used, lambda h, r: h.action.kind == r.action.kind)
    other = _match(humans, replayed, used, lambda h, r: True, skip={p.recorded for p in same})
    by_recorded = {p.recorded: p.replayed for p in (*same, *other)}
    rows = [_row(human, _at(replayed, by_recorded.get(i))) for i, human in enumerate(humans)]
    rows += [_replayed_only(r) for j, r in enumerate(replayed) if j not in used]
    return tuple(sorted(rows, key=_row_time))


def _match(
    humans: Sequence[RecordedAction],
    replayed: Sequence[ActionResult],
    used: set[int],
    fits: Callable[[RecordedAction, ActionResult], bool],
    skip: frozenset[int] | set[int] = frozenset(),
) -> list[_Pair]:
    """Give each recorded action the earliest unused replayed action on its target that fits."""
    pairs: list[_Pair] = []
    for i, human in enumerate(humans):
        if i in skip:
            continue
        for j, result in enumerate(replayed):
            if j not in used and _target(human.action) == _target(result.action):
                if fits(human, result):
                    used.add(j)
                    pairs.append(_Pair(i, j))
                    break
    return pairs


def _at(replayed: Sequence[ActionResult], index: int | None) -> ActionResult | None:
    return None if index is None else replayed[index]


def _row(human: RecordedAction, result: ActionResult | None) -> ComparisonRow:
    """One recorded action and its replayed counterpart, if any."""
    if result is None:
        status = ComparisonStatus.ONLY_RECORDED
    elif result.action.kind == human.action.kind:
        status = ComparisonStatus.SAME
    else:
        status = ComparisonStatus.DIFFERENT
    return ComparisonRow(
        workload=_target(human.action),
        status=status,
        recorded=describe_recorded(human),
        recorded_at=human.time,
        replayed=None if result is None else describe_result(result),
        replayed_at=None if result is None else result.at,
    )


def _replayed_only(result: ActionResult) -> ComparisonRow:
    """A replayed action nobody took during the real incident."""
    return ComparisonRow(
        workload=_target(result.action),
        status=ComparisonStatus.ONLY_REPLAYED,
        replayed=describe_result(result),
        replayed_at=result.at,
    )


def _row_time(row: ComparisonRow) -> datetime:
    times = [t for t in (row.recorded_at, row.replayed_at) if t is not None]
    return min(times)


def _target(action: Action) -> WorkloadRef | None:
    """The workload an action is aimed at (None for a target-less escalation)."""
    return action.target


def describe_recorded(recorded: RecordedAction) -> str:
    """``"rollback shop/checkout rev 8 -> 7 by alice"`` (wording shared with the timeline)."""
    return f"{describe(recorded.action)} by {recorded.actor}"


def describe_result(result: ActionResult) -> str:
    """``"scale shop/web 4 -> 8 replicas"``, noting dry runs and reverts."""
    text = describe(result.action) + _STATUS_NOTES.get(result.status, "")
    return f"{text} (revert)" if result.revert_of else text
