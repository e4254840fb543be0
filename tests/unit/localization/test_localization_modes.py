"""Controller modes: every transition, the recovery window, ``since`` stability and reasons
(R6, R7, R10, CH-07, CH-08, CH-09, I7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.detection.fleet import FleetVerdict
from controller.models.modes import Mode, ModeState, SourceHealth
from controller.observers.freshness import (
    ModeDecision,
    Role,
    decide_mode,
    next_mode,
    role_of,
)
from controller.settings import ModeSettings
from tests.unit.localization.localization_helpers import t

SETTINGS = ModeSettings()  # metrics stale after 90 s, traces after 5 min, recovery 5 min
NOW = t("10:00:00")
CLEAR = FleetVerdict(frozen=False)
RED = FleetVerdict(frozen=True, reasons=("18 of 20 watched workloads breached",))


def prom(ok: bool = True, age: float | None = 10, detail: str = "") -> SourceHealth:
    """The metrics source, last successful ``age`` seconds before NOW (None: never)."""
    return _source("prometheus", ok, age, detail)


def traces(ok: bool = True, age: float | None = 10, detail: str = "") -> SourceHealth:
    return _source("traces", ok, age, detail)


def kube(ok: bool = True, detail: str = "") -> SourceHealth:
    return _source("kubernetes", ok, None, detail)


def _source(name: str, ok: bool, age: float | None, detail: str) -> SourceHealth:
    last = None if age is None else NOW - timedelta(seconds=age)
    return SourceHealth(source=name, ok=ok, last_success=last, detail=detail)


ALL_OK = (prom(), traces(), kube())
EARLIER = NOW - timedelta(hours=1)


def state(mode: Mode) -> ModeState:
    """A mode entered an hour ago."""
    return ModeState(mode=mode, since=EARLIER, reasons=("before",))


@dataclass
class Case:
    """One decision: from ``previous`` with these inputs to ``mode``."""

    id: str
    previous: Mode | None
    sources: tuple[SourceHealth, ...]
    mode: Mode
    fleet: FleetVerdict = CLEAR
    says: str = ""

    def decide(self) -> ModeDecision:
        previous = None if self.previous is None else state(self.previous)
        return decide_mode(previous, self.sources, self.fleet, NOW, SETTINGS)


N, G, B, F = Mode.NORMAL, Mode.DEGRADED, Mode.BLIND, Mode.FROZEN
CASES = [
    Case("start-normal", None, ALL_OK, N, says="every source ok: kubernetes, prometheus, traces"),
    Case("start-blind", None, (prom(ok=False), kube()), B),
    Case("normal-stays", N, ALL_OK, N),
    Case(
        "prometheus-down",
        N,
        (prom(ok=False, age=240, detail="connection refused"), traces(), kube()),
        B,
        says="metrics source 'prometheus' not ok: connection refused; last success "
        "09:56:00Z (4m ago)",
    ),
    Case(
        "prometheus-ok-but-stale",
        N,
        (prom(age=91), traces(), kube()),
        B,
        says="stale after 1m30s",
    ),
    Case("prometheus-at-the-stale-limit", N, (prom(age=90), traces(), kube()), N),
    Case(
        "prometheus-never-succeeded",
        N,
        (prom(age=None), traces(), kube()),
        B,
        says="has never succeeded",
    ),
    Case(
        "kubernetes-unsynced",
        N,
        (prom(), traces(), kube(ok=False, detail="watch 410 Gone, relisting")),
        B,
        says="kubernetes source 'kubernetes' not ok: watch 410 Gone, relisting",
    ),
    Case("no-metrics-source", N, (traces(), kube()), B, says="no metrics source"),
    Case("no-sources-at-all", None, (), B, says="nothing to see with"),
    Case(
        "traces-stale",
        N,
        (prom(), traces(age=301), kube()),
        G,
        says="traces source 'traces' stale",
    ),
    Case(
        "traces-never",
        N,
        (prom(), traces(ok=False, age=None, detail="no trace export received yet"), kube()),
        G,
        says="no trace export received yet; never succeeded",
    ),
    Case("traces-not-configured", N, (prom(), kube()), N),
    Case("unknown-source-down", N, (*ALL_OK, _source("llm", False, 5, "529")), G),
    Case("fleet-frozen", N, ALL_OK, F, RED, says="fleet anomaly: 18 of 20"),
    Case("degraded-to-normal-at-once", G, ALL_OK, N),
    Case("degraded-to-blind", G, (prom(ok=False), traces(), kube()), B),
    Case("degraded-to-frozen", G, ALL_OK, F, RED),
    Case("blind-to-frozen-at-once", B, (prom(ok=False), kube()), F, RED),
    Case("frozen-to-blind-at-once", F, (prom(ok=False), kube()), B),
    Case("frozen-stays", F, ALL_OK, F, RED),
    Case("blind-stays", B, (prom(ok=False), kube()), B),
    # Leaving BLIND/FROZEN waits for the recovery window (next tests for the full stretch).
    Case("blind-recovering", B, ALL_OK, B, says="recovering from blind: clear since 10:00:00Z"),
    Case("frozen-recovering", F, ALL_OK, F, says="acting again from 10:05:00Z"),
    Case("blind-recovering-to-degraded", B, (prom(), traces(age=None), kube()), B),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_transition(case: Case) -> None:
    decision = case.decide()
    assert decision.state.mode is case.mode
    changed = case.previous is not case.mode
    assert decision.entered is (case.mode if changed else None)
    assert decision.state.since == (NOW if changed else EARLIER)
    assert decision.state.sources == tuple(sorted(case.sources, key=lambda s: s.source))
    if case.says:
        assert any(case.says in reason for reason in decision.state.reasons), decision.state.reasons


def step_through(
    timeline: Sequence[tuple[str, Sequence[SourceHealth], FleetVerdict]],
) -> list[ModeDecision]:
    """Run ``next_mode`` over (clock, sources, fleet) ticks; source ages are relative to
    each tick (the helpers build them relative to 10:00:00, so shift them)."""
    decisions: list[ModeDecision] = []
    previous: ModeDecision | None = None
    for clock, sources, fleet in timeline:
        now = t(clock)
        shifted = tuple(
            s.model_copy(
                update={
                    "last_success": None if s.last_success is None else s.last_success + (now - NOW)
                }
            )
            for s in sources
        )
        previous = next_mode(previous, shifted, fleet, now, SETTINGS)
        decisions.append(previous)
    return decisions


DOWN = (prom(ok=False, detail="503"), traces(), kube())


def test_blind_recovers_only_after_a_full_window_of_fresh_data() -> None:
    """CH-07: prometheus down 10:01-10:04; back at 10:05; acting again from 10:10."""
    timeline = [
        ("10:00:00", ALL_OK, CLEAR),
        ("10:01:00", DOWN, CLEAR),
        ("10:04:00", DOWN, CLEAR),
        ("10:05:00", ALL_OK, CLEAR),
        ("10:09:59", ALL_OK, CLEAR),
        ("10:10:00", ALL_OK, CLEAR),
        ("10:11:00", ALL_OK, CLEAR),
    ]
    decisions = step_through(timeline)
    assert [d.state.mode for d in decisions] == [N, B, B, B, B, N, N]
    assert [d.entered for d in decisions] == [N, B, None, None, None, N, None]
    since = ["10:00:00", "10:01:00", "10:01:00", "10:01:00", "10:01:00", "10:10:00", "10:10:00"]
    assert [d.state.since for d in decisions] == [t(clock) for clock in since]
    recovering = [None, None, None, t("10:05:00"), t("10:05:00"), None, None]
    assert [d.recovering_since for d in decisions] == recovering
    assert "recovering from blind" in decisions[4].state.reasons[0]
    assert "503" in " ".join(decisions[2].state.reasons)


def test_a_relapse_restarts_the_recovery_window() -> None:
    timeline = [
        ("10:00:00", DOWN, CLEAR),
        ("10:01:00", ALL_OK, CLEAR),
        ("10:04:00", DOWN, CLEAR),
        ("10:05:00", ALL_OK, CLEAR),
        ("10:09:00", ALL_OK, CLEAR),
        ("10:10:00", ALL_OK, CLEAR),
    ]
    modes = [d.state.mode for d in step_through(timeline)]
    assert modes == [B, B, B, B, B, N]


def test_frozen_recovers_to_degraded_when_traces_are_still_missing() -> None:
    no_traces = (prom(), traces(ok=False, age=None), kube())
    timeline = [
        ("10:00:00", ALL_OK, RED),
        ("10:03:00", no_traces, CLEAR),
        ("10:07:59", no_traces, CLEAR),
        ("10:08:00", no_traces, CLEAR),
    ]
    decisions = step_through(timeline)
    assert [d.state.mode for d in decisions] == [F, F, F, G]
    assert decisions[-1].entered is G
    assert decisions[1].state.since == t("10:00:00")


def test_recovery_without_passing_recovering_since_restarts_every_tick() -> None:
    """decide_mode on its own cannot know when the clean stretch began: pass it back."""
    first = decide_mode(state(B), ALL_OK, CLEAR, NOW, SETTINGS)
    later = NOW + timedelta(minutes=10)
    fresh = tuple(s.model_copy(update={"last_success": later}) for s in ALL_OK[:2]) + (kube(),)
    forgot = decide_mode(first.state, fresh, CLEAR, later, SETTINGS)
    assert forgot.state.mode is B
    passed = decide_mode(
        first.state, fresh, CLEAR, later, SETTINGS, recovering_since=first.recovering_since
    )
    assert passed.state.mode is N
    assert passed.entered is N


def test_zero_recovery_window_recovers_at_once() -> None:
    quick = ModeSettings(recovery_window=timedelta(0))
    decision = decide_mode(state(F), ALL_OK, CLEAR, NOW, quick)
    assert decision.state.mode is N


@pytest.mark.parametrize(
    "claimed",
    [
        NOW + timedelta(hours=1),  # from the future
        EARLIER - timedelta(hours=1),  # before the held mode began
        datetime(2026, 3, 1, 9, 58),  # no timezone
    ],
    ids=["future", "before-the-mode", "naive"],
)
def test_implausible_recovering_since_restarts_the_recovery(claimed: datetime) -> None:
    decision = decide_mode(state(B), ALL_OK, CLEAR, NOW, SETTINGS, recovering_since=claimed)
    assert decision.state.mode is B
    assert decision.recovering_since == NOW


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("prometheus", Role.METRICS),
        ("Prometheus:main", Role.METRICS),
        ("metrics", Role.METRICS),
        ("traces", Role.TRACES),
        ("otlp", Role.TRACES),
        ("kube", Role.KUBERNETES),
        ("kubernetes", Role.KUBERNETES),
        ("slack", Role.OTHER),
    ],
)
def test_source_roles(name: str, role: Role) -> None:
    assert role_of(name) is role


def test_future_last_success_is_fresh_and_says_so() -> None:
    ahead = SourceHealth(
        source="prometheus", ok=False, last_success=NOW + timedelta(seconds=5), detail="x"
    )
    decision = decide_mode(None, (ahead, kube()), CLEAR, NOW, SETTINGS)
    assert "clock skew" in decision.state.reasons[0]


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_mode(None, ALL_OK, CLEAR, datetime(2026, 3, 1), SETTINGS)


FAST = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.sampled_from(["prometheus", "metrics", "traces", "kubernetes", "kube", "other"])
ages = st.none() | st.floats(-600, 7200, allow_nan=False)
sources = st.builds(
    lambda name, ok, age, detail: _source(name, ok, age, detail),
    names,
    st.booleans(),
    ages,
    st.text(max_size=20),
)
previous_states = st.none() | st.builds(
    ModeState,
    mode=st.sampled_from(list(Mode)),
    since=st.sampled_from([EARLIER, NOW]),
)
fleets = st.builds(FleetVerdict, frozen=st.booleans(), reasons=st.just(("r",)))
recoveries = st.none() | st.sampled_from([EARLIER, NOW - timedelta(minutes=10), NOW])


def metrics_broken(source: SourceHealth) -> bool:
    """The test's own statement of "a metrics source is not ok"."""
    if role_of(source.source) is not Role.METRICS:
        return False
    if not source.ok or source.last_success is None:
        return True
    return NOW - source.last_success > SETTINGS.metrics_stale_after


@FAST
@given(previous_states, st.lists(sources, max_size=6), fleets, recoveries)
def test_never_normal_while_metrics_are_not_ok(
    previous: ModeState | None,
    health: list[SourceHealth],
    fleet: FleetVerdict,
    recovering: datetime | None,
) -> None:
    decision = decide_mode(previous, health, fleet, NOW, SETTINGS, recovering_since=recovering)
    broken = any(metrics_broken(s) for s in health)
    has_metrics = any(role_of(s.source) is Role.METRICS for s in health)
    if broken or not has_metrics:
        assert decision.state.mode.rank >= Mode.BLIND.rank
    if fleet.frozen:
        assert decision.state.mode is Mode.FROZEN
    assert decision.state.reasons
    assert (decision.entered is None) == (
        previous is not None and previous.mode is decision.state.mode
    )
