"""Memory leak: steady, well-fitted growth towards the limit, not explained by load."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controller.detection.leak import detect_memory_leak, fit
from controller.models.incident import FindingKind, Severity
from controller.models.signals import Health, Signal
from tests.unit.detection.detection_helpers import Scenario, at, minutes, step

WINDOW = minutes(30)


def ramp(
    start_value: float, growth: float, start: float = -WINDOW, over: float = WINDOW
) -> Callable[[float], float]:
    """Flat until ``start``, then rising by ``growth`` every ``over`` seconds."""
    return lambda s: start_value + growth * max(0.0, s - start) / over


def test_fires_on_a_straight_climb_with_flat_load() -> None:
    scenario = Scenario({Signal.MEMORY_SATURATION: ramp(0.4, 0.2)})
    finding = detect_memory_leak(scenario.inputs(0))
    assert finding is not None and finding.kind is FindingKind.MEMORY_LEAK
    assert finding.value == pytest.approx(0.2, rel=1e-6)  # 20% of the limit per 30m
    assert finding.threshold == 0.15 and finding.since == at(-WINDOW + 30)
    assert finding.severity is Severity.TICKET  # limit in ~60 min
    assert "reach the limit in 60m" in finding.detail and "r^2 1.00" in finding.detail


def test_pages_when_the_limit_is_less_than_30_minutes_away() -> None:
    scenario = Scenario({Signal.MEMORY_SATURATION: ramp(0.65, 0.2)})  # at 0.85, +0.4/h
    finding = detect_memory_leak(scenario.inputs(0))
    assert finding is not None and finding.severity is Severity.PAGE


@pytest.mark.parametrize(("growth", "fires"), [(0.14, False), (0.16, True)])
def test_minimum_growth(growth: float, fires: bool) -> None:
    scenario = Scenario({Signal.MEMORY_SATURATION: ramp(0.5, growth)})
    assert (detect_memory_leak(scenario.inputs(0)) is not None) is fires


@pytest.mark.parametrize(("base", "fires"), [(0.1, False), (0.3, True)])
def test_horizon(base: float, fires: bool) -> None:
    # +0.16 per 30m: from 0.26 the limit is ~2.3h away (too far), from 0.46 ~1.7h.
    scenario = Scenario({Signal.MEMORY_SATURATION: ramp(base, 0.16)})
    assert (detect_memory_leak(scenario.inputs(0)) is not None) is fires


@pytest.mark.parametrize(
    ("load_growth", "fires"), [(0.5, False), (0.26, False), (0.24, True), (-0.3, True)]
)
def test_growth_that_follows_load_is_not_a_leak(load_growth: float, fires: bool) -> None:
    # The first and last quarters of the window are compared: a step halfway measures exactly.
    scenario = Scenario(
        {
            Signal.MEMORY_SATURATION: ramp(0.4, 0.2),
            Signal.REQUEST_RATE: step(10.0, 10.0 * (1 + load_growth), -minutes(15)),
        }
    )
    assert (detect_memory_leak(scenario.inputs(0)) is not None) is fires


def test_noisy_memory_is_not_a_leak() -> None:
    trend = ramp(0.4, 0.2)
    noisy = Scenario({Signal.MEMORY_SATURATION: lambda s: trend(s) + (0.15 if s % 60 else -0.15)})
    assert detect_memory_leak(noisy.inputs(0)) is None


def test_needs_a_full_window_and_usable_load() -> None:
    young = Scenario({Signal.MEMORY_SATURATION: ramp(0.4, 0.2)}, start=-minutes(20))
    assert detect_memory_leak(young.inputs(0)) is None
    no_load = Scenario(
        {Signal.MEMORY_SATURATION: ramp(0.4, 0.2)}, health={Signal.REQUEST_RATE: Health.ERROR}
    )
    assert detect_memory_leak(no_load.inputs(0)) is None


def test_fit_recovers_slope_and_rejects_flat_lines() -> None:
    points = [(1_000.0 + i, 2.0 + 0.5 * i) for i in range(10)]
    trend = fit(points, now=1_009.0)
    assert trend is not None
    assert trend.slope == pytest.approx(0.5) and trend.at_now == pytest.approx(6.5)
    assert trend.r_squared == pytest.approx(1.0)
    assert fit([(1.0, 3.0), (2.0, 3.0)], now=2.0) is None
