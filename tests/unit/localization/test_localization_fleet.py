"""The fleet-anomaly guard (R7, CH-09): a fleet-wide breach or unit change freezes; one
workload's genuine trouble does not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.detection.fleet import FleetVerdict, fleet_anomaly
from controller.models.base import epoch
from controller.models.incident import Incident, WorkloadStatus
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.settings import ModeSettings
from tests.unit.detection.detection_helpers import BASELINE, Scenario, at, run, step, ticks
from tests.unit.detection.detection_helpers import inventory as detection_inventory
from tests.unit.localization.localization_helpers import incident, outcome, t

SETTINGS = ModeSettings()
NOW = t("12:00:00")
FLEET = [WorkloadRef(namespace="demo", name=f"svc-{n:02d}") for n in range(20)]
Statuses = dict[str, WorkloadStatus]


def series(
    ref: WorkloadRef, signal: Signal, values: Iterable[float], *, every: float = 30.0
) -> SignalWindow:
    """A window whose samples end at NOW, one every ``every`` seconds."""
    points = list(values)
    end = epoch(NOW)
    stamps = tuple(end - every * (len(points) - 1 - i) for i in range(len(points)))
    return SignalWindow(ref, signal, f"test:{signal}", end, SeriesData(stamps, tuple(points)))


def latency_windows(
    jumped: int, factor: float, *, at_sample: int = 15, samples: int = 20
) -> dict[str, dict[Signal, SignalWindow]]:
    """p99 of the whole fleet, 0.2 s; the first ``jumped`` workloads x``factor`` from
    sample ``at_sample`` on."""
    windows = {}
    for index, ref in enumerate(FLEET):
        scale = factor if index < jumped else 1.0
        values = [0.2 * (scale if i >= at_sample else 1.0) for i in range(samples)]
        windows[ref.key] = {Signal.LATENCY_P99: series(ref, Signal.LATENCY_P99, values)}
    return windows


def breaching(count: int, *, spread: timedelta = timedelta(seconds=20)) -> list[Incident]:
    """Incidents on the first ``count`` workloads, opened ``spread`` apart ending at NOW."""
    out = []
    for index, ref in enumerate(FLEET[:count]):
        opened = NOW - spread * (count - 1 - index)
        out.append(incident(ref, f"{opened - timedelta(minutes=3):%H:%M:%S}", f"{opened:%H:%M:%S}"))
    return out


def statuses(incidents: list[Incident]) -> Statuses:
    """The whole fleet healthy except the workloads of ``incidents``."""
    bad = {i.workload.key for i in incidents}
    return {
        ref.key: WorkloadStatus.UNHEALTHY if ref.key in bad else WorkloadStatus.HEALTHY
        for ref in FLEET
    }


@dataclass
class Case:
    """A fleet situation and whether it must freeze."""

    id: str
    frozen: bool
    incidents: list[Incident] = field(default_factory=list)
    windows: dict[str, dict[Signal, SignalWindow]] = field(
        default_factory=lambda: latency_windows(0, 1.0)
    )
    status: Statuses | None = None
    says: str = ""

    def verdict(self) -> FleetVerdict:
        status = self.status if self.status is not None else statuses(self.incidents)
        return fleet_anomaly(self.windows, outcome(self.incidents, status), SETTINGS, NOW)


def blinded(incidents: list[Incident], count: int) -> Statuses:
    """Statuses where the first ``count`` incident workloads are merely blind."""
    status = statuses(incidents)
    for item in incidents[:count]:
        status[item.workload.key] = WorkloadStatus.BLIND
    return status


SIX = breaching(6)
CASES = [
    Case("quiet", False),
    Case("6-of-20-breaching", True, SIX, says="6 of 20 watched workloads (30%)"),
    Case("4-of-20-breaching", False, breaching(4)),
    Case("5-of-20-is-not-more-than-5", False, breaching(5)),
    Case(
        "6-of-20-opened-3-minutes-apart",
        False,
        breaching(6, spread=timedelta(minutes=3)),
    ),
    Case("6-of-20-two-only-blind", False, SIX, status=blinded(SIX, 2)),
    Case(
        "latency-x1000-on-18-of-20",
        True,
        windows=latency_windows(18, 1000.0),
        says="suspected unit change: latency_p99 rose x1,000",
    ),
    Case(
        "latency-drop-x100-on-18-of-20",
        True,
        windows=latency_windows(18, 0.01),
        says="latency_p99 dropped x100 ",
    ),
    Case("one-workload-x10-latency", False, windows=latency_windows(1, 10.0)),
    Case("half-the-fleet-is-not-most", False, windows=latency_windows(10, 1000.0)),
    Case("11-of-20-is-most", True, windows=latency_windows(11, 1000.0)),
    Case("x9-is-below-the-factor", False, windows=latency_windows(20, 9.0)),
    Case(
        # 30 samples of 30 s: a step at sample 5 was 12 minutes ago, beyond the lookback.
        "step-older-than-lookback",
        False,
        windows=latency_windows(20, 1000.0, at_sample=5, samples=30),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fleet_verdict(case: Case) -> None:
    verdict = case.verdict()
    assert verdict.frozen is case.frozen
    assert bool(verdict.reasons) is case.frozen
    assert verdict.watched == len(FLEET)
    if case.says:
        assert any(case.says in reason for reason in verdict.reasons), verdict.reasons


def test_breaching_names_the_workloads_of_the_burst() -> None:
    verdict = Case("six", True, SIX).verdict()
    assert verdict.breaching == tuple(sorted(i.workload.key for i in SIX))


def test_unit_change_reason_has_the_numbers() -> None:
    verdict = Case("unit", True, windows=latency_windows(18, 1000.0)).verdict()
    (reason,) = verdict.reasons
    assert "at 2026-03-01T11:58:00Z on 18 of 20 workloads reporting it" in reason
    assert "R7" in reason
    assert len(verdict.breaching) == 18


@pytest.mark.parametrize(
    ("fleet_size", "breaches", "frozen"),
    [(10, 4, True), (10, 3, False), (3, 3, True), (3, 2, False), (2, 2, False)],
)
def test_fraction_rule_needs_a_real_share_and_three_workloads(
    fleet_size: int, breaches: int, frozen: bool
) -> None:
    """30% of 10 is 3, so 4 freeze; on tiny fleets two incidents never freeze by share."""
    incidents = breaching(breaches)
    status = {ref.key: WorkloadStatus.HEALTHY for ref in FLEET[:fleet_size]}
    status.update({i.workload.key: WorkloadStatus.UNHEALTHY for i in incidents})
    verdict = fleet_anomaly({}, outcome(incidents, status), SETTINGS, NOW)
    assert verdict.frozen is frozen
    assert verdict.watched == fleet_size


def test_error_ratio_label_change_freezes() -> None:
    """A label rename makes every error ratio 100%: from 0 (floored) to 1 on all 20."""
    windows = {
        ref.key: {Signal.ERROR_RATIO: series(ref, Signal.ERROR_RATIO, [0.0] * 10 + [1.0] * 2)}
        for ref in FLEET
    }
    verdict = fleet_anomaly(windows, outcome([], {}), SETTINGS, NOW)
    assert verdict.frozen
    assert "error_ratio rose x1,000" in verdict.reasons[0]


def test_unhealthy_windows_do_not_report() -> None:
    """Only healthy windows count: 3 jumping of 3 reporting still needs >= 3 jumpers."""
    windows = latency_windows(3, 1000.0)
    for ref in FLEET[2:]:
        window = windows[ref.key][Signal.LATENCY_P99]
        windows[ref.key] = {
            Signal.LATENCY_P99: SignalWindow(
                ref, window.signal, window.source, window.observed_at, window.data, Health.ERROR
            )
        }
    assert not fleet_anomaly(windows, outcome([], {}), SETTINGS, NOW).frozen
    windows[FLEET[2].key] = latency_windows(3, 1000.0)[FLEET[2].key]
    assert fleet_anomaly(windows, outcome([], {}), SETTINGS, NOW).frozen


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fleet_anomaly({}, outcome([], {}), SETTINGS, NOW.replace(tzinfo=None))


def test_unit_change_keeps_the_fleet_frozen_through_detection() -> None:
    """CH-09 end to end: p99 x1000 on 18 of 20 at minute 0. The step rule freezes at once;
    the incidents detection then opens together keep it frozen long after the step."""
    scenarios = [
        Scenario(
            {Signal.LATENCY_P99: step(0.2, 200.0, 0.0)} if index < 18 else BASELINE,
            inv=detection_inventory(ref),
            start=-1800.0,
            end=1800.0,
        )
        for index, ref in enumerate(FLEET)
    ]
    times = ticks(-60.0, 1200.0, 60.0)
    outcomes = run(scenarios, times)
    frozen = []
    for tick, result in zip(times, outcomes, strict=True):
        windows = {s.inventory.ref.key: s.windows(tick) for s in scenarios}
        verdict = fleet_anomaly(windows, result, SETTINGS, at(tick))
        frozen.append(verdict.frozen)
    assert frozen == [tick >= 0 for tick in times]
    assert len(outcomes[-1].open) == 18


FAST = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def any_window(draw: st.DrawFn, key: str) -> dict[Signal, SignalWindow]:
    out = {}
    for signal in draw(st.sets(st.sampled_from(list(Signal)), max_size=3)):
        stamps = sorted(draw(st.sets(finite, max_size=8)))
        values = draw(st.lists(finite, min_size=len(stamps), max_size=len(stamps)))
        ref = WorkloadRef(namespace="demo", name=key)
        data = SeriesData(tuple(stamps), tuple(values))
        observed = draw(finite | st.just(epoch(NOW)))
        out[signal] = SignalWindow(
            ref, signal, "x", observed, data, draw(st.sampled_from(list(Health)))
        )
    return out


@FAST
@given(
    st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: any_window(key) for key in keys})
    ),
    st.integers(-(10**6), 10**6),
)
def test_fleet_anomaly_never_raises(
    windows: dict[str, dict[Signal, SignalWindow]], offset: int
) -> None:
    now = NOW + timedelta(seconds=offset)
    verdict = fleet_anomaly(windows, outcome([], {}), SETTINGS, now)
    assert verdict.frozen is bool(verdict.reasons)
    assert set(verdict.breaching) <= set(windows)


def test_reason_survives_sample_times_outside_the_calendar() -> None:
    """Near datetime.min a sample time has no calendar date: the reason still renders."""
    now = datetime(1, 1, 1, 0, 5, tzinfo=UTC)
    end = epoch(now)
    windows = {}
    for ref in FLEET[:3]:
        data = SeriesData((end - 1000, end - 590), (0.2, 200.0))
        windows[ref.key] = {
            Signal.LATENCY_P99: SignalWindow(ref, Signal.LATENCY_P99, "x", end, data)
        }
    verdict = fleet_anomaly(windows, outcome([], {}), SETTINGS, now)
    assert verdict.frozen
    assert f"at t={end - 590:.0f} on 3 of 3" in verdict.reasons[0]
