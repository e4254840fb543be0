"""Replica clamp math: the policy's bounds and step caps applied to one requested count (R4).

Exact arithmetic (``Fraction`` of the decimal the policy wrote), so ``2.0 x 3`` never becomes
``5.999...`` and huge counts never overflow a float. The rules, in order, each recording a
reason when it changes the value:

1. a request of 0 becomes the floor (``SCALE_TO_ZERO``): never 0;
2. above the ceiling -> the ceiling; below the floor -> the floor;
3. above ``maxStepUpFactor x current`` -> that (``STEP_UP_CLAMPED``);
4. below ``current x (1 - maxStepDownFraction)`` -> that (``STEP_DOWN_CLAMPED``).

The ceiling and floor bound *changes*: a workload already above the ceiling may step down
towards it (never up), one below the floor may step up towards it (never down). The floor is
always reachable in one step, even from 0 replicas. The result always lies inside every bound,
so the order of the rules cannot let one cap undo another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from controller.guardrails.policy import ReplicaLimits
from controller.models.decisions import Reason, ReasonCode


@dataclass(frozen=True)
class Bounds:
    """The admissible range for one step from ``current`` replicas."""

    current: int
    floor: int
    ceiling: int
    step_up: int
    step_down: int

    @classmethod
    def of(cls, current: int, limits: ReplicaLimits) -> Bounds:
        """Bounds for a step from ``current`` under ``limits``."""
        factor = Fraction(repr(limits.max_step_up_factor))
        keep = 1 - Fraction(repr(limits.max_step_down_fraction))
        return cls(
            current=current,
            floor=max(1, min(limits.floor, current)),
            ceiling=max(limits.ceiling, current),
            step_up=max(limits.floor, math.floor(factor * current)),
            step_down=math.ceil(keep * current),
        )


@dataclass(frozen=True)
class Clamped:
    """A clamped count and why it differs from the request (empty: unchanged)."""

    value: int
    reasons: tuple[Reason, ...]


def clamp_count(requested: int, current: int, limits: ReplicaLimits, what: str) -> Clamped:
    """Clamp ``requested`` (a step from ``current``); ``what`` names the count in details."""
    bounds = Bounds.of(current, limits)
    value, reasons = requested, []
    if value == 0:
        value = bounds.floor
        reasons.append(
            _reason(
                ReasonCode.SCALE_TO_ZERO, f"{what} 0 requested: never scale to 0; raised to {value}"
            )
        )
    if value > bounds.ceiling:
        detail = (
            f"{what} {requested} is above the ceiling {limits.ceiling}; clamped to {bounds.ceiling}"
        )
        value = bounds.ceiling
        reasons.append(_reason(ReasonCode.REPLICAS_CLAMPED_CEILING, detail))
    if value < bounds.floor:
        detail = f"{what} {requested} is below the floor {limits.floor}; clamped to {bounds.floor}"
        value = bounds.floor
        reasons.append(_reason(ReasonCode.REPLICAS_CLAMPED_FLOOR, detail))
    if value > bounds.step_up:
        detail = (
            f"{what} {current} -> {requested} exceeds x{limits.max_step_up_factor:g} per step; "
            f"clamped to {bounds.step_up}"
        )
        value = bounds.step_up
        reasons.append(_reason(ReasonCode.STEP_UP_CLAMPED, detail))
    if value < bounds.step_down:
        detail = (
            f"{what} {current} -> {requested} removes more than "
            f"{limits.max_step_down_fraction:.0%} per step; clamped to {bounds.step_down}"
        )
        value = bounds.step_down
        reasons.append(_reason(ReasonCode.STEP_DOWN_CLAMPED, detail))
    return Clamped(value, tuple(reasons))


def _reason(code: ReasonCode, detail: str) -> Reason:
    return Reason(code=code, detail=detail)
