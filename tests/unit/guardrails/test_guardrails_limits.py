"""The clamp math on its own: bounds and step caps for one count, with exact arithmetic."""

from __future__ import annotations

import pytest

from controller.guardrails.limits import Bounds, clamp_count
from controller.guardrails.policy import ReplicaLimits
from controller.models.decisions import ReasonCode as C

DEFAULT = ReplicaLimits.model_validate(
    {"floor": 1, "ceiling": 50, "maxStepUpFactor": 2.0, "maxStepDownFraction": 0.5}
)


def limits(**changes: float) -> ReplicaLimits:
    return DEFAULT.model_validate({**DEFAULT.model_dump(by_alias=True), **changes})


@pytest.mark.parametrize(
    ("current", "requested", "changes", "expected", "codes"),
    [
        (4, 8, {}, 8, ()),
        (4, 9, {}, 8, (C.STEP_UP_CLAMPED,)),
        (4, 2, {}, 2, ()),
        (4, 1, {}, 2, (C.STEP_DOWN_CLAMPED,)),
        (4, 0, {}, 2, (C.SCALE_TO_ZERO, C.STEP_DOWN_CLAMPED)),
        (5, 2, {}, 3, (C.STEP_DOWN_CLAMPED,)),  # ceil(5 x 0.5) = 3: never more than half
        (3, 7, {"maxStepUpFactor": 1.5}, 4, (C.STEP_UP_CLAMPED,)),  # floor(3 x 1.5) = 4
        (3, 100, {"maxStepUpFactor": 2.0}, 6, (C.REPLICAS_CLAMPED_CEILING, C.STEP_UP_CLAMPED)),
        (30, 60, {}, 50, (C.REPLICAS_CLAMPED_CEILING,)),
        (10, 7, {"maxStepDownFraction": 0.3}, 7, ()),  # exact decimal: 10 x 0.7 is 7, not 7.0001
        (10, 6, {"maxStepDownFraction": 0.3}, 7, (C.STEP_DOWN_CLAMPED,)),
        (10, 30, {"maxStepUpFactor": 3.0}, 30, ()),
        (4, 2, {"floor": 3}, 3, (C.REPLICAS_CLAMPED_FLOOR,)),
        (4, 0, {"floor": 3}, 3, (C.SCALE_TO_ZERO,)),
        (0, 0, {}, 1, (C.SCALE_TO_ZERO,)),  # from 0 the floor is reachable in one step
        (0, 5, {}, 1, (C.STEP_UP_CLAMPED,)),
        (0, 5, {"floor": 2}, 2, (C.STEP_UP_CLAMPED,)),
        (1, 5, {"floor": 3}, 3, (C.STEP_UP_CLAMPED,)),  # below the floor: step up to it
        (1, 0, {"floor": 3}, 1, (C.SCALE_TO_ZERO,)),  # ... but never down
        (200, 150, {}, 150, ()),  # above the ceiling: may step down towards it
        (200, 20, {}, 100, (C.STEP_DOWN_CLAMPED,)),
        (200, 300, {}, 200, (C.REPLICAS_CLAMPED_CEILING,)),  # ... but never up
        (10**30, 0, {}, 5 * 10**29, (C.SCALE_TO_ZERO, C.STEP_DOWN_CLAMPED)),  # no float overflow
    ],
)
def test_clamp_table(
    current: int, requested: int, changes: dict[str, float], expected: int, codes: tuple[C, ...]
) -> None:
    result = clamp_count(requested, current, limits(**changes), "replicas")
    assert (result.value, tuple(r.code for r in result.reasons)) == (expected, codes)


@pytest.mark.parametrize("current", [0, 1, 2, 3, 7, 49, 50, 51, 99, 1000])
def test_bounds_are_consistent(current: int) -> None:
    """The lower bound never exceeds the upper one, so rule order cannot matter."""
    bounds = Bounds.of(current, DEFAULT)
    assert 1 <= max(bounds.floor, bounds.step_down) <= min(bounds.ceiling, bounds.step_up)
    for requested in range(2 * current + 3):
        value = clamp_count(requested, current, DEFAULT, "replicas").value
        assert max(bounds.floor, bounds.step_down) <= value <= min(bounds.ceiling, bounds.step_up)


def test_details_name_the_count_and_numbers() -> None:
    result = clamp_count(100, 4, DEFAULT, "HPA max")
    assert [r.detail for r in result.reasons] == [
        "HPA max 100 is above the ceiling 50; clamped to 50",
        "HPA max 4 -> 100 exceeds x2 per step; clamped to 8",
    ]
    down = clamp_count(0, 4, limits(floor=2), "replicas")
    assert [r.detail for r in down.reasons] == [
        "replicas 0 requested: never scale to 0; raised to 2"
    ]
    low = clamp_count(1, 4, limits(floor=3), "replicas")
    assert low.reasons[0].detail == "replicas 1 is below the floor 3; clamped to 3"
    step = clamp_count(1, 10, DEFAULT, "replicas")
    assert step.reasons[0].detail == "replicas 10 -> 1 removes more than 50% per step; clamped to 5"
