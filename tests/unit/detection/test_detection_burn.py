"""SLO burn rate: multi-window, traffic floor, coverage, SLO budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controller.detection.burn import detect_slo_burn
from controller.models.incident import FindingKind, Severity
from controller.models.signals import Health, Signal
from controller.settings import BurnWindow, DetectionSettings
from tests.unit.detection.detection_helpers import (
    SETTINGS,
    Scenario,
    at,
    between,
    const,
    inventory,
    minutes,
    step,
)

FAST_ONLY = DetectionSettings(
    burn_windows=(BurnWindow(long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),)
)


def test_fires_with_both_windows_burning_and_reports_the_numbers() -> None:
    scenario = Scenario({Signal.ERROR_RATIO: step(0.0002, 0.05, 0)})
    finding = detect_slo_burn(scenario.inputs(minutes(30)))
    assert finding is not None
    assert finding.kind is FindingKind.SLO_BURN and finding.signal is Signal.ERROR_RATIO
    assert finding.severity is Severity.PAGE
    # 1h window (-30m, 30m]: 61 samples at 5% (0m..30m) and 59 at 0.02%
    # -> mean 2.5515% -> 25.515x a 0.1% budget.
    assert finding.value == pytest.approx(25.515)
    assert finding.threshold == 14.4 and finding.window == timedelta(hours=1)
    assert finding.since == at(0)
    assert "25.5x over 1h" in finding.detail and "50.0x over 5m" in finding.detail
    assert "error ratio 5%" in finding.detail and "budget of 0.1%" in finding.detail


@pytest.mark.parametrize(
    ("ratio", "fires"),
    [
        (0.0059, False),  # just below 6x a 0.1% budget (the 6h/30m pair)
        (0.0061, True),  # just above it
        (0.0143, True),  # below the fast pair's 14.4x, but the slow pair fires
    ],
)
def test_threshold_is_the_factor_times_the_budget(ratio: float, fires: bool) -> None:
    scenario = Scenario({Signal.ERROR_RATIO: const(ratio)})
    finding = detect_slo_burn(scenario.inputs(minutes(60)))
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.threshold == 6.0 and finding.window == timedelta(hours=6)


@pytest.mark.parametrize(("ratio", "fires"), [(0.0143, False), (0.0145, True)])
def test_fast_pair_alone_just_below_and_above(ratio: float, fires: bool) -> None:
    scenario = Scenario({Signal.ERROR_RATIO: const(ratio)})
    assert (detect_slo_burn(scenario.inputs(minutes(60), FAST_ONLY)) is not None) is fires


def test_recovered_short_window_stops_the_alert() -> None:
    # Errors from -40m to -10m: the hour still burns, the last five minutes do not.
    scenario = Scenario({Signal.ERROR_RATIO: between(0.0002, 0.05, -minutes(40), -minutes(10))})
    assert detect_slo_burn(scenario.inputs(0, FAST_ONLY)) is None
    assert detect_slo_burn(scenario.inputs(-minutes(12), FAST_ONLY)) is not None


def test_short_spike_does_not_fire_while_the_long_window_is_calm() -> None:
    scenario = Scenario({Signal.ERROR_RATIO: between(0.0002, 0.05, -minutes(3), minutes(60))})
    assert detect_slo_burn(scenario.inputs(0, FAST_ONLY)) is None


@pytest.mark.parametrize(("rate", "fires"), [(0.04, False), (0.05, True), (10.0, True)])
def test_traffic_floor(rate: float, fires: bool) -> None:
    scenario = Scenario({Signal.ERROR_RATIO: const(0.5), Signal.REQUEST_RATE: const(rate)})
    assert (detect_slo_burn(scenario.inputs(0)) is not None) is fires


def test_requires_the_short_windows_worth_of_coverage() -> None:
    scenario = Scenario({Signal.ERROR_RATIO: const(0.5)}, start=0)
    assert detect_slo_burn(scenario.inputs(minutes(4.5), FAST_ONLY)) is None
    assert detect_slo_burn(scenario.inputs(minutes(5), FAST_ONLY)) is not None


def test_unusable_request_rate_means_no_judgement() -> None:
    scenario = Scenario(
        {Signal.ERROR_RATIO: const(0.5)}, health={Signal.REQUEST_RATE: Health.ERROR}
    )
    assert detect_slo_burn(scenario.inputs(0)) is None


@pytest.mark.parametrize(("availability", "fires"), [(0.99, False), (0.999, True)])
def test_budget_comes_from_the_workload_slo(availability: float, fires: bool) -> None:
    scenario = Scenario({Signal.ERROR_RATIO: const(0.05)}, inv=inventory(availability=availability))
    assert (detect_slo_burn(scenario.inputs(0)) is not None) is fires


def test_most_severe_pair_wins() -> None:
    settings = DetectionSettings(
        burn_windows=(
            BurnWindow(long="6h", short="30m", factor=6.0, severity=Severity.TICKET),
            BurnWindow(long="1h", short="5m", factor=14.4, severity=Severity.PAGE),
        )
    )
    scenario = Scenario({Signal.ERROR_RATIO: const(0.5)})
    finding = detect_slo_burn(scenario.inputs(0, settings))
    assert finding is not None and finding.severity is Severity.PAGE
    assert finding.window == timedelta(hours=1)
    assert SETTINGS.burn_windows[0].factor == 14.4
