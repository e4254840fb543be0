"""Stuck rollouts, from deploy and rollout events alone (no metrics needed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from controller.detection.context import DetectorInput
from controller.models.base import epoch, format_duration
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import Finding, FindingKind, Severity


def newest_deploy_until(
    events: Sequence[ClusterEvent], now: float
) -> tuple[ClusterEvent, list[ClusterEvent]] | None:
    """The newest deploy at or before ``now`` and the events at or before ``now`` after it.

    The same as ``newest_deploy`` over the events up to ``now``, but walking back from the
    newest event: only the deploy and the events after it have their time converted.
    """
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.kind is EventKind.DEPLOY and epoch(event.time) <= now:
            after = [e for e in events[index + 1 :] if epoch(e.time) <= now]
            return event, after
    return None


def open_stall(after: Sequence[ClusterEvent]) -> ClusterEvent | None:
    """The first rollout_stalled event that no later rollout_complete resolved."""
    stall: ClusterEvent | None = None
    for event in after:
        if event.kind is EventKind.ROLLOUT_COMPLETE:
            stall = None
        elif event.kind is EventKind.ROLLOUT_STALLED and stall is None:
            stall = event
    return stall


def stuck_since(
    deploy: ClusterEvent, after: Sequence[ClusterEvent], inputs: DetectorInput
) -> float | None:
    """When the rollout started being stuck, or None when it is not stuck.

    Stuck means: a stall was reported and not followed by completion, or no completion at
    all and the deploy is older than ``stuck_rollout_deadline``.
    """
    return stuck_at(
        deploy, after, inputs.settings.stuck_rollout_deadline.total_seconds(), inputs.now
    )


def stuck_at(
    deploy: ClusterEvent, after: Sequence[ClusterEvent], deadline: float, now: float
) -> float | None:
    """``stuck_since`` from the deadline (seconds) and ``now`` alone: the quiet-workload
    gate (``controller/detection/quiet.py``) asks it without building a DetectorInput."""
    candidates: list[float] = []
    stall = open_stall(after)
    if stall is not None:
        candidates.append(epoch(stall.time))
    completed = any(event.kind is EventKind.ROLLOUT_COMPLETE for event in after)
    if not completed and now - epoch(deploy.time) > deadline:
        candidates.append(epoch(deploy.time) + deadline)
    return min(candidates) if candidates else None


def detect_stuck_rollout(inputs: DetectorInput) -> Finding | None:
    """STUCK_ROLLOUT (ticket): the newest deploy never completed or reported a stall.

    A ticket, because the old pods usually keep serving; crash loops or errors of the new
    revision raise their own, paging, findings.
    """
    found = newest_deploy_until(inputs.events, inputs.now)
    if found is None:
        return None
    deploy, after = found
    since = stuck_since(deploy, after, inputs)
    if since is None:
        return None
    deadline = inputs.settings.stuck_rollout_deadline
    age = inputs.now - epoch(deploy.time)
    stall = open_stall(after)
    stalled = f"; stalled: {stall.reason or stall.message or 'rollout_stalled'}" if stall else ""
    return inputs.finding(
        FindingKind.STUCK_ROLLOUT,
        Severity.TICKET,
        since,
        signal=None,
        value=age,
        threshold=deadline.total_seconds(),
        window=deadline,
        detail=(
            f"deploy of revision {deploy.revision or '?'} ({deploy.image or 'image unknown'}) "
            f"at {deploy.time:%Y-%m-%dT%H:%M:%SZ}, {format_duration(timedelta(seconds=age))} "
            "ago, has no "
            f"rollout_complete (deadline {format_duration(deadline)}){stalled}"
        ),
    )
