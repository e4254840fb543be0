"""The controller's operating mode: how much it may trust what it sees (R6, R7, R10, I7).

``decide_mode`` is pure: the previous mode, the health of every observation source, the
fleet-anomaly verdict and ``now`` in; the next mode out. The modes, most severe first:

- FROZEN: the fleet-anomaly guard fired (R7, CH-09): suspect the sensor, act on nothing;
  also while the kill switch is engaged (R14: ``guardrails.freeze.FreezeGate.compose``).
- BLIND: metrics or Kubernetes are not ok, or no metrics source exists at all (R6, CH-07):
  nothing to see with, so no risky action.
- DEGRADED: traces are stale or were never received, or a source of unknown kind is not ok
  (CH-08): detection still works, but a human approves every action.
- NORMAL: every source is ok; act per policy.

A source counts as ok when it says so *and*, for metrics and traces, its last success is
within ``metrics_stale_after`` / ``traces_stale_after`` (a source that reports ok without
ever having succeeded is not ok). Kubernetes is judged by its flag alone (a synced watch
cache may legitimately see no change for a long time). A traces source that is not listed is
taken as not configured, not as stale: a deployment without tracing is not degraded forever.

Going up in severity is immediate. Leaving BLIND or FROZEN for an acting mode (NORMAL or
DEGRADED) is not: the blocking conditions must have been clear continuously for
``recovery_window`` first (R10, CH-07: re-observe at least one full fresh evaluation window
before the first action). Until then the mode stays where it was, saying so in its reasons.
The start of that clean stretch is carried in ``ModeDecision.recovering_since``: pass it back
(``next_mode`` does that for you). ``since`` changes only when the mode does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from controller.models.base import format_duration
from controller.models.modes import Mode, ModeState, SourceHealth
from controller.settings import ModeSettings

HOLDING = frozenset({Mode.BLIND, Mode.FROZEN})
"""Modes that take no action; leaving them needs a full recovery window."""


class Role(StrEnum):
    """What a source observes, which decides what its failure means."""

    METRICS = "metrics"
    TRACES = "traces"
    KUBERNETES = "kubernetes"
    OTHER = "other"


ROLE_NAMES: dict[str, Role] = {
    "prometheus": Role.METRICS,
    "metrics": Role.METRICS,
    "traces": Role.TRACES,
    "otlp": Role.TRACES,
    "kubernetes": Role.KUBERNETES,
    "kube": Role.KUBERNETES,
}
"""Accepted ``SourceHealth.source`` names (case-insensitive; ``prometheus:main`` style
suffixes after a colon are ignored)."""


class FleetSignal(Protocol):
    """What the mode needs of ``controller.detection.fleet.FleetVerdict``.

    A protocol, because observers and detection are independent layers and may not import
    each other.
    """

    @property
    def frozen(self) -> bool:
        """Whether the fleet-anomaly guard fired."""
        ...

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why, with numbers."""
        ...


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """One source judged at ``now``: its role, whether it is usable, and why not."""

    health: SourceHealth
    role: Role
    ok: bool
    problem: str = ""


@dataclass(frozen=True, slots=True)
class ModeDecision:
    """The new mode; ``entered`` is set when the mode changed (raise an alert/Event, I7).

    ``recovering_since``: start of the clean stretch while leaving BLIND/FROZEN; pass it to
    the next ``decide_mode`` call.
    """

    state: ModeState
    entered: Mode | None = None
    recovering_since: datetime | None = None


def role_of(source: str) -> Role:
    """The role of a source by its name; unknown names are OTHER."""
    return ROLE_NAMES.get(source.split(":", 1)[0].strip().lower(), Role.OTHER)


def _ago(moment: datetime | None, now: datetime) -> str:
    """``last success 10:01:00Z (4m ago)`` or ``never succeeded``."""
    if moment is None:
        return "never succeeded"
    age = now - moment
    when = f"{moment:%H:%M:%SZ}"
    if age < timedelta(0):
        return f"last success {when} (in the future: clock skew?)"
    return f"last success {when} ({format_duration(age)} ago)"


def _stale_after(role: Role, settings: ModeSettings) -> timedelta | None:
    if role is Role.METRICS:
        return settings.metrics_stale_after
    if role is Role.TRACES:
        return settings.traces_stale_after
    return None


def check_source(health: SourceHealth, now: datetime, settings: ModeSettings) -> SourceCheck:
    """Judge one source: its own flag, then (metrics, traces) the age of its last success."""
    role = role_of(health.source)
    label = f"{role.value} source {health.source!r}"
    detail = f": {health.detail}" if health.detail else ""
    if not health.ok:
        problem = f"{label} not ok{detail}; {_ago(health.last_success, now)}"
        return SourceCheck(health, role, False, problem)
    limit = _stale_after(role, settings)
    if limit is None:
        return SourceCheck(health, role, True)
    if health.last_success is None:
        return SourceCheck(health, role, False, f"{label} has never succeeded{detail}")
    if now - health.last_success > limit:
        problem = f"{label} stale: {_ago(health.last_success, now)}, stale after " + (
            format_duration(limit)
        )
        return SourceCheck(health, role, False, problem)
    return SourceCheck(health, role, True)


def target_mode(checks: Sequence[SourceCheck], fleet: FleetSignal) -> tuple[Mode, tuple[str, ...]]:
    """The mode the current inputs call for (ignoring history), with every cause."""
    blind = [c.problem for c in checks if not c.ok and c.role in (Role.METRICS, Role.KUBERNETES)]
    if not any(c.role is Role.METRICS for c in checks):
        blind.insert(0, "no metrics source: nothing to see with")
    degraded = [c.problem for c in checks if not c.ok and c.role in (Role.TRACES, Role.OTHER)]
    if fleet.frozen:
        fleet_reasons = [  # an engaged kill switch arrives folded in (guardrails.freeze)
            r if r.startswith("kill switch") else f"fleet anomaly: {r}" for r in fleet.reasons
        ]
        return Mode.FROZEN, tuple(fleet_reasons or ["fleet anomaly"]) + tuple(blind + degraded)
    if blind:
        return Mode.BLIND, tuple(blind + degraded)
    if degraded:
        return Mode.DEGRADED, tuple(degraded)
    names = ", ".join(c.health.source for c in checks)
    return Mode.NORMAL, (f"every source ok: {names}",)


def _recovery_start(
    previous: ModeState, recovering_since: datetime | None, now: datetime
) -> datetime:
    """When the clean stretch began: the caller's value when plausible, else now.

    A value from before the held mode began, from the future or without a timezone cannot be
    the start of this recovery; starting afresh only delays acting, never hastens it.
    """
    if recovering_since is None or recovering_since.tzinfo is None:
        return now
    if previous.since <= recovering_since <= now:
        return recovering_since
    return now


def _hold(
    previous: ModeState,
    reasons: tuple[str, ...],
    sources: tuple[SourceHealth, ...],
    start: datetime,
    window: timedelta,
) -> ModeDecision:
    """Stay in BLIND/FROZEN (same ``since``) while the recovery window runs, saying why."""
    note = (
        f"recovering from {previous.mode.value}: clear since {start:%H:%M:%SZ}; acting again "
        f"from {start + window:%H:%M:%SZ} after a {format_duration(window)} recovery window "
        "of fresh data (CH-07)"
    )
    state = previous.model_copy(update={"reasons": (note, *reasons), "sources": sources})
    return ModeDecision(state=state, recovering_since=start)


def decide_mode(
    previous: ModeState | None,
    sources: Sequence[SourceHealth],
    fleet: FleetSignal,
    now: datetime,
    settings: ModeSettings,
    *,
    recovering_since: datetime | None = None,
) -> ModeDecision:
    """The mode at ``now`` (rules in the module docstring).

    ``previous`` is None before the first decision; ``entered`` is then the first mode.
    ``recovering_since`` is the previous decision's value (None starts a recovery now).

    Raises:
        ValueError: ``now`` has no timezone.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("decide_mode() needs a timezone-aware `now`")
    now = now.astimezone(UTC)
    ordered = tuple(sorted(sources, key=lambda s: (s.source, s.ok)))
    target, reasons = target_mode([check_source(s, now, settings) for s in ordered], fleet)
    if previous is not None and previous.mode in HOLDING and target not in HOLDING:
        start = _recovery_start(previous, recovering_since, now)
        if now - start < settings.recovery_window:
            return _hold(previous, reasons, ordered, start, settings.recovery_window)
    changed = previous is None or previous.mode is not target
    since = now if changed or previous is None else previous.since
    state = ModeState(mode=target, since=since, reasons=reasons, sources=ordered)
    return ModeDecision(state=state, entered=target if changed else None)


def next_mode(
    previous: ModeDecision | None,
    sources: Sequence[SourceHealth],
    fleet: FleetSignal,
    now: datetime,
    settings: ModeSettings,
) -> ModeDecision:
    """``decide_mode`` threading the previous decision's state and recovery start."""
    if previous is None:
        return decide_mode(None, sources, fleet, now, settings)
    return decide_mode(
        previous.state,
        sources,
        fleet,
        now,
        settings,
        recovering_since=previous.recovering_since,
    )
