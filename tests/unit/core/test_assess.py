"""Verification has four outcomes and never calls missing data a success."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controller.models.actions import VerificationSpec
from controller.models.decisions import VerificationPhase
from controller.models.signals import SeriesData, Signal, SignalWindow
from controller.observers.assess import assess_verification
from tests.factories import WEB

SPEC = VerificationSpec(
    signal=Signal.ERROR_RATIO, expect="decrease", min_improvement=0.5, bake=timedelta(minutes=5)
)


def _windows(before: float, after: float | None) -> tuple[SignalWindow, SignalWindow]:
    stamps = [30.0 * i for i in range(1, 21)]  # action at t=300, bake ends at t=600
    values = [before if t <= 300 else after for t in stamps]
    data = SeriesData.from_points(list(zip(stamps, values, strict=True)))
    make = lambda at: SignalWindow(WEB, Signal.ERROR_RATIO, "test", at, data)  # noqa: E731
    return make(300.0), make(600.0)


@pytest.mark.parametrize(
    ("before", "after", "phase"),
    [
        (0.10, 0.01, VerificationPhase.IMPROVED),
        (0.10, 0.08, VerificationPhase.NOT_IMPROVED),
        (0.10, 0.20, VerificationPhase.WORSE),
        (0.10, None, VerificationPhase.INCONCLUSIVE),
        (0.0, 0.0, VerificationPhase.INCONCLUSIVE),
    ],
)
def test_phases(before: float, after: float | None, phase: VerificationPhase) -> None:
    assessment = assess_verification(SPEC, *_windows(before, after))
    assert assessment.phase is phase


def test_increase_expectation_and_numbers() -> None:
    spec = SPEC.model_copy(update={"signal": Signal.REPLICAS_AVAILABLE, "expect": "increase"})
    assessment = assess_verification(spec, *_windows(2.0, 4.0))
    assert assessment.phase is VerificationPhase.IMPROVED
    assert assessment.baseline == 2.0 and assessment.observed == 4.0
    assert assessment.relative_change == pytest.approx(1.0)
