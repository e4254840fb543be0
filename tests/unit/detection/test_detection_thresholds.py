"""Latency and saturation: persistence to open, hysteresis to clear, SLO override."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controller.detection.context import DetectorInput
from controller.detection.detectors import step_latches
from controller.detection.inputs import usable_windows
from controller.detection.latency import detect_latency
from controller.detection.persistence import Band, step_latch
from controller.detection.saturation import detect_cpu_saturation, detect_memory_saturation
from controller.detection.state import CLOSED, Latch
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal
from tests.unit.detection.detection_helpers import (
    SETTINGS,
    T0,
    Scenario,
    at,
    const,
    inventory,
    minutes,
    series,
    ticks,
    window,
)

Detector = Callable[[DetectorInput], Finding | None]


def trace(scenario: Scenario, kind: FindingKind, times: list[float]) -> dict[float, Latch]:
    """Step the real latches tick by tick; return each tick's latch for ``kind``."""
    latches: dict[FindingKind, Latch] = {}
    out: dict[float, Latch] = {}
    for now_s in times:
        usable = usable_windows(scenario.windows(now_s), SETTINGS)
        latches = step_latches(usable, latches, scenario.inventory, SETTINGS)
        out[now_s] = latches[kind]
    return out


def shape(points: list[tuple[float, float]]) -> Callable[[float], float]:
    """Piecewise constant: the value of the last (start, value) at or before s."""

    def value(s: float) -> float:
        current = points[0][1]
        for start, level in points:
            if s >= start:
                current = level
        return current

    return value


CASES = [
    # kind, signal, normal, breach, in-band, below-band
    (FindingKind.LATENCY, Signal.LATENCY_P99, 0.2, 2.0, 0.9, 0.7),
    (FindingKind.CPU_SATURATION, Signal.CPU_SATURATION, 0.5, 0.95, 0.8, 0.7),
    (FindingKind.MEMORY_SATURATION, Signal.MEMORY_SATURATION, 0.4, 0.95, 0.8, 0.7),
]
HOLD = {
    FindingKind.LATENCY: SETTINGS.latency_for.total_seconds(),
    FindingKind.CPU_SATURATION: SETTINGS.saturation_for.total_seconds(),
    FindingKind.MEMORY_SATURATION: SETTINGS.saturation_for.total_seconds(),
}


@pytest.mark.parametrize(("kind", "signal", "normal", "breach", "band", "below"), CASES)
def test_opens_only_after_persisting(
    kind: FindingKind, signal: Signal, normal: float, breach: float, band: float, below: float
) -> None:
    scenario = Scenario({signal: shape([(-1e9, normal), (minutes(10), breach)])})
    hold = HOLD[kind]
    latches = trace(scenario, kind, ticks(minutes(9), minutes(20)))
    # Every sample of (now - hold, now] must be above: the first tick where that holds.
    opened = min(t for t, latch in latches.items() if latch.open)
    assert opened == minutes(10) + hold - 30
    assert latches[opened].since == T0.timestamp() + minutes(10)  # onset, not confirmation


@pytest.mark.parametrize(("kind", "signal", "normal", "breach", "band", "below"), CASES)
def test_hysteresis_band_keeps_it_open_and_below_band_clears(
    kind: FindingKind, signal: Signal, normal: float, breach: float, band: float, below: float
) -> None:
    in_band = Scenario({signal: shape([(-1e9, normal), (0, breach), (minutes(20), band)])})
    cleared = Scenario({signal: shape([(-1e9, normal), (0, breach), (minutes(20), below)])})
    times = ticks(minutes(15), minutes(40))
    assert all(latch.open for latch in trace(in_band, kind, times).values())
    latches = trace(cleared, kind, times)
    closed_at = min(t for t, latch in latches.items() if not latch.open)
    # Clears once every sample of the last clear_for (5m) is below the band.
    assert closed_at == minutes(20) + SETTINGS.clear_for.total_seconds() - 30


@pytest.mark.parametrize(("kind", "signal", "normal", "breach", "band", "below"), CASES)
def test_value_in_band_never_opens(
    kind: FindingKind, signal: Signal, normal: float, breach: float, band: float, below: float
) -> None:
    scenario = Scenario({signal: shape([(-1e9, normal), (0, band)])})
    assert not any(latch.open for latch in trace(scenario, kind, ticks(0, minutes(30))).values())


@pytest.mark.parametrize(
    ("level", "opens"),
    [(1.0, False), (0.999, False), (1.001, True)],
)
def test_latency_threshold_is_strictly_above(level: float, opens: bool) -> None:
    scenario = Scenario({Signal.LATENCY_P99: const(level)})
    assert trace(scenario, FindingKind.LATENCY, [0])[0].open is opens


def test_one_good_sample_breaks_persistence() -> None:
    blip = Scenario({Signal.LATENCY_P99: lambda s: 0.2 if s == -minutes(1) else 2.0})
    assert not trace(blip, FindingKind.LATENCY, [0])[0].open
    assert trace(blip, FindingKind.LATENCY, [minutes(2.5)])[minutes(2.5)].open


def test_series_younger_than_the_hold_period_does_not_open() -> None:
    young = Scenario({Signal.LATENCY_P99: const(5.0)}, start=0)
    latches = trace(young, FindingKind.LATENCY, ticks(30, minutes(3)))
    assert [t for t, latch in latches.items() if latch.open] == [minutes(3)]


@pytest.mark.parametrize(("slo", "opens"), [(None, False), (0.5, True)])
def test_workload_slo_overrides_the_default_latency_bound(slo: float | None, opens: bool) -> None:
    scenario = Scenario({Signal.LATENCY_P99: const(0.7)}, inv=inventory(latency_p99=slo))
    finding = detect_latency(scenario.inputs(0))
    assert (finding is not None) is opens
    if finding is not None:
        assert finding.threshold == 0.5 and finding.severity is Severity.PAGE
        assert finding.value == 0.7


def test_latch_freezes_while_its_signal_is_unusable() -> None:
    band = Band(open_above=1.0, clear_below=0.8, hold=180, clear=300)
    opened = Latch(open=True, since=T0.timestamp())
    gap = Scenario({Signal.LATENCY_P99: lambda s: None if minutes(5) < s < minutes(30) else 0.1})
    usable = usable_windows(gap.windows(minutes(20)), SETTINGS)
    frozen = step_latches(usable, {FindingKind.LATENCY: opened}, gap.inventory, SETTINGS)
    assert frozen[FindingKind.LATENCY] == opened
    data = series(const(0.1), -minutes(10), 0)
    assert step_latch(window(Signal.LATENCY_P99, data, 0), opened, band) == CLOSED


@pytest.mark.parametrize(
    ("detector", "signal", "kind", "severity", "threshold"),
    [
        (
            detect_cpu_saturation,
            Signal.CPU_SATURATION,
            FindingKind.CPU_SATURATION,
            Severity.TICKET,
            0.9,
        ),
        (
            detect_memory_saturation,
            Signal.MEMORY_SATURATION,
            FindingKind.MEMORY_SATURATION,
            Severity.PAGE,
            0.9,
        ),
    ],
)
def test_saturation_findings(
    detector: Detector, signal: Signal, kind: FindingKind, severity: Severity, threshold: float
) -> None:
    scenario = Scenario({signal: shape([(-1e9, 0.5), (-minutes(10), 0.97)])})
    finding = detector(scenario.inputs(0))
    assert finding is not None
    assert (finding.kind, finding.severity, finding.threshold) == (kind, severity, threshold)
    assert finding.value == 0.97 and finding.since == at(-minutes(10))
    assert "97%" in finding.detail and "90%" in finding.detail
    calm = Scenario({signal: const(0.89)})
    assert detector(calm.inputs(0)) is None
