"""Pure verdicts on whether an action helped: four phases, and no data is never success."""

from __future__ import annotations

from dataclasses import dataclass

from controller.models.actions import VerificationSpec
from controller.models.decisions import VerificationPhase
from controller.models.signals import SignalWindow

WORSE_MARGIN = 0.1
"""Relative degradation beyond which the action made things worse (triggers a revert)."""

MIN_BASELINE = 1e-9


@dataclass(frozen=True, slots=True)
class Assessment:
    """Baseline before the action, what was observed after the bake window, and the verdict."""

    phase: VerificationPhase
    baseline: float | None
    observed: float | None
    relative_change: float | None
    detail: str


def assess_verification(
    spec: VerificationSpec, before: SignalWindow, after: SignalWindow | None
) -> Assessment:
    """Compare the promised signal before the action with the end of the bake window.

    ``before`` must be the signal seen at the moment of the action and ``after`` the same
    signal seen when the bake window ended (None: the observer no longer reports it). The
    baseline is the mean over one bake window before acting; the observation is the mean
    over the second half of the bake window, giving the change time to take effect.
    """
    if after is None:
        detail = f"no {spec.signal} data after the action"
        return Assessment(VerificationPhase.INCONCLUSIVE, None, None, None, detail)
    bake = spec.bake.total_seconds()
    baseline = before.mean(bake)
    observed = after.mean(bake / 2)
    if baseline is None or observed is None:
        missing = "before" if baseline is None else "after"
        return Assessment(
            VerificationPhase.INCONCLUSIVE,
            baseline,
            observed,
            None,
            f"no {spec.signal} samples {missing} the action: cannot judge",
        )
    if abs(baseline) < MIN_BASELINE:
        return Assessment(
            VerificationPhase.INCONCLUSIVE,
            baseline,
            observed,
            None,
            f"baseline {spec.signal} is zero: no room to improve",
        )
    change = (observed - baseline) / abs(baseline)
    improvement = -change if spec.expect == "decrease" else change
    phase = _phase(improvement, spec.min_improvement)
    detail = (
        f"{spec.signal} {baseline:.4g} -> {observed:.4g} ({change:+.0%}); "
        f"expected {spec.expect} by >= {spec.min_improvement:.0%}"
    )
    return Assessment(phase, baseline, observed, change, detail)


def _phase(improvement: float, wanted: float) -> VerificationPhase:
    if improvement >= wanted:
        return VerificationPhase.IMPROVED
    if improvement <= -WORSE_MARGIN:
        return VerificationPhase.WORSE
    return VerificationPhase.NOT_IMPROVED
