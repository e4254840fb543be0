"""The quiet-workload gate (issue 9, speed) only skips ``judge`` when ``judge`` would conclude
"healthy, nothing to remember".

``judge`` is the oracle: over generated workloads (signals drawn around every threshold,
gaps, stale and unhealthy windows, missing signals, events after ``now``, latches and memories)
and over sequences of ticks on the same series (so the per-series memos are carried forward
and sometimes asked about an earlier tick), whenever ``Gate.quiet`` says yes, ``judge`` must
return exactly ``quiet_judgement``. Each detector's firing case must also keep the gate shut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from controller.detection import DetectionState, detect
from controller.detection.api import WorkloadView, judge, quiet_judgement
from controller.detection.quiet import Gate
from controller.detection.state import EMPTY_MEMORY, Latch, WorkloadMemory
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import FindingKind
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.settings import BurnWindow, DetectionSettings
from tests.unit.detection.detection_helpers import (
    SETTINGS,
    T0,
    WEB,
    Scenario,
    at,
    between,
    const,
    inventory,
    minutes,
    run,
    step,
    ticks,
)
from tests.unit.detection.detection_helpers import (
    event as make_event,
)

SMALL = DetectionSettings(
    burn_windows=(
        BurnWindow(long=timedelta(minutes=10), short=timedelta(minutes=2), factor=14.4),
        BurnWindow(long=timedelta(minutes=20), short=timedelta(minutes=5), factor=6.0),
    ),
    latency_for=timedelta(minutes=1),
    saturation_for=timedelta(minutes=1),
    clear_for=timedelta(minutes=2),
    memory_leak_window=timedelta(minutes=5),
    memory_leak_horizon=timedelta(hours=2),
    crash_loop_window=timedelta(minutes=3),
    restart_burst_window=timedelta(minutes=1),
    stuck_rollout_deadline=timedelta(minutes=4),
    over_provisioned_for=timedelta(minutes=6),
    stale_after=timedelta(seconds=45),
)
"""Windows short enough for generated series of a few dozen samples to reach every rule."""

CALM: dict[Signal, float] = {
    Signal.REQUEST_RATE: 10.0,
    Signal.ERROR_RATIO: 0.0002,
    Signal.LATENCY_P50: 0.05,
    Signal.LATENCY_P99: 0.2,
    Signal.CPU_SATURATION: 0.5,
    Signal.MEMORY_SATURATION: 0.4,
    Signal.RESTARTS: 0.0,
    Signal.REPLICAS_AVAILABLE: 3.0,
}
EDGES: dict[Signal, Sequence[float]] = {
    Signal.REQUEST_RATE: (0.0, 0.04, 0.05, 12.0, 30.0),
    Signal.ERROR_RATIO: (0.0, 0.006, 0.0144, 0.0145, 0.02, 0.5),
    Signal.LATENCY_P50: (0.1,),
    Signal.LATENCY_P99: (0.8, 1.0, 1.0000001, 1.5),
    Signal.CPU_SATURATION: (0.1, 0.19, 0.2, 0.9, 0.95),
    Signal.MEMORY_SATURATION: (0.3, 0.5, 0.6, 0.8, 0.9, 0.95),
    Signal.RESTARTS: (1.0, 2.0, 9.0),
    Signal.REPLICAS_AVAILABLE: (1.0,),
}
"""Values drawn for each signal: mostly the calm one, else ones at, just past and far past
each bound (and, for restarts, increments of the counter; 9 resets it)."""


@st.composite
def values_for(draw: st.DrawFn, signal: Signal, size: int) -> list[float]:
    """A mostly calm series with runs of one level (so holds and flat counters happen)."""
    values: list[float] = []
    while len(values) < size:
        run_length = draw(st.integers(1, 40))
        calm = draw(st.integers(0, 3)) > 0
        level = CALM[signal] if calm else draw(st.sampled_from(EDGES[signal]))
        if signal is Signal.MEMORY_SATURATION and draw(st.integers(0, 5)) == 0:
            rise = draw(st.sampled_from([0.002, 0.01, 0.03]))
            values += [min(0.99, level + rise * i) for i in range(run_length)]
        elif signal is Signal.RESTARTS:
            values += [level] + [0.0] * (run_length - 1)
        else:
            values += [level] * run_length
    if signal is Signal.RESTARTS:  # a cumulative counter: mostly flat, sometimes reset
        counter, total = [], 0.0
        for value in values[:size]:
            total = 0.0 if value == 9.0 else total + value
            counter.append(total)
        return counter
    return values[:size]


@st.composite
def timeline(draw: st.DrawFn) -> list[float]:
    """Sample times every 15 s from T0 on, now and then 30 s or (stale) 61 s apart."""
    size = draw(st.integers(2, 120))
    steps = draw(
        st.lists(st.sampled_from([15.0] * 20 + [30.0, 61.0]), min_size=size, max_size=size)
    )
    times, t = [], T0.timestamp()
    for gap in steps:
        times.append(t)
        t += gap
    return times


EVENT_KINDS = (
    EventKind.DEPLOY,
    EventKind.ROLLOUT_COMPLETE,
    EventKind.ROLLOUT_STALLED,
    EventKind.POD_CRASH,
    EventKind.CONFIG_CHANGE,
)


@st.composite
def events_of(draw: st.DrawFn) -> tuple[ClusterEvent, ...]:
    """A few events over the first half hour (some after the ticks looked at), in order."""
    count = draw(st.integers(0, 5))
    offsets = sorted(draw(st.lists(st.floats(0, 1800), min_size=count, max_size=count)))
    kinds = draw(st.lists(st.sampled_from(EVENT_KINDS), min_size=count, max_size=count))
    return tuple(
        ClusterEvent(time=at(offset), kind=kind, workload=WEB, revision=index + 1)
        for index, (offset, kind) in enumerate(zip(offsets, kinds, strict=True))
    )


MEMORIES = (
    EMPTY_MEMORY,
    EMPTY_MEMORY,
    EMPTY_MEMORY,
    WorkloadMemory(latches={FindingKind.LATENCY: Latch(open=False, since=T0.timestamp())}),
    WorkloadMemory(latches={FindingKind.CPU_SATURATION: Latch(open=True, since=T0.timestamp())}),
)


@st.composite
def workloads(
    draw: st.DrawFn,
) -> tuple[dict[Signal, SeriesData], dict[Signal, Health], tuple[ClusterEvent, ...]]:
    """Series for most signals over one timeline (a signal sometimes missing, sometimes a
    sample short), health mostly ok."""
    times = draw(timeline())
    data = {}
    for signal in Signal:
        if draw(st.integers(0, 60)) == 0:
            continue
        own = times[: len(times) - draw(st.sampled_from([0] * 8 + [1, 3]))] or times[:1]
        data[signal] = SeriesData(own, draw(values_for(signal, len(own))))
    health = {
        signal: draw(st.sampled_from([Health.OK] * 100 + [Health.NO_DATA, Health.ERROR]))
        for signal in data
    }
    return data, health, draw(events_of())


def view_at(
    data: dict[Signal, SeriesData],
    health: dict[Signal, Health],
    events: tuple[ClusterEvent, ...],
    now_s: float,
    p99: float | None,
) -> WorkloadView:
    """The workload seen at T0 + ``now_s``: windows over the same series at every tick."""
    observed = T0.timestamp() + now_s
    windows = {
        signal: SignalWindow(WEB, signal, "test", observed, series, health[signal])
        for signal, series in data.items()
    }
    return WorkloadView(inventory(latency_p99=p99, desired=3), windows, events)


def seconds_into(data: dict[Signal, SeriesData], fractions: Sequence[float]) -> list[float]:
    """Tick times (seconds after T0) at these fractions of the recorded span (a bit past it
    too: stale windows)."""
    span = max((series.timestamps[-1] for series in data.values()), default=T0.timestamp())
    return [fraction * (span - T0.timestamp() + 30.0) for fraction in fractions]


def assert_gate_sound(
    view: WorkloadView, memory: WorkloadMemory, rules: DetectionSettings, now_s: float
) -> bool:
    """Whenever the gate says quiet, judge's judgement is exactly the quiet one."""
    now = at(now_s)
    events = tuple(e for e in view.events if e.time <= now)
    quiet = Gate.of(rules).quiet(memory, view.inventory, view.windows, events, now.timestamp())
    event(f"quiet={quiet}")
    if quiet:
        assert judge(view, memory, rules, now) == quiet_judgement(WEB)
    return quiet


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workloads(),
    st.lists(st.floats(0, 1.05), min_size=1, max_size=12),
    st.sampled_from(MEMORIES),
    st.sampled_from([None, 0.8, 1.0]),
)
def test_whenever_the_gate_skips_judge_would_have_found_nothing(
    workload: tuple[dict[Signal, SeriesData], dict[Signal, Health], tuple[ClusterEvent, ...]],
    offsets: list[float],
    memory: WorkloadMemory,
    p99: float | None,
) -> None:
    data, health, events = workload
    # Mostly forward in time (the memos advance), sometimes back (they must not mislead).
    for now_s in seconds_into(data, sorted(offsets)[:-1] + offsets[-1:]):
        assert_gate_sound(view_at(data, health, events, now_s, p99), memory, SMALL, now_s)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads(), st.lists(st.floats(0, 1.05), min_size=1, max_size=6))
def test_the_gate_is_sound_with_the_default_settings(
    workload: tuple[dict[Signal, SeriesData], dict[Signal, Health], tuple[ClusterEvent, ...]],
    offsets: list[float],
) -> None:
    data, health, events = workload
    for now_s in seconds_into(data, offsets):
        assert_gate_sound(view_at(data, health, events, now_s, None), EMPTY_MEMORY, SETTINGS, now_s)


# -- the gate opens for a calm workload and stays shut whenever a detector could fire -------


def gate_answer(scenario: Scenario, now_s: float, memory: WorkloadMemory = EMPTY_MEMORY) -> bool:
    """``Gate.quiet`` for a scenario at T0 + ``now_s``, checked against judge when it says yes."""
    view, now = scenario.view(now_s), at(now_s)
    events = tuple(e for e in view.events if e.time <= now)
    quiet = Gate.of(SETTINGS).quiet(memory, view.inventory, view.windows, events, now.timestamp())
    if quiet:
        assert judge(view, memory, SETTINGS, now) == quiet_judgement(WEB)
    return quiet


def test_a_calm_workload_is_quiet() -> None:
    assert gate_answer(Scenario(), minutes(60))


def test_a_workload_with_something_to_remember_is_judged() -> None:
    latched = WorkloadMemory(latches={FindingKind.LATENCY: Latch(open=True, since=0.0)})
    assert not gate_answer(Scenario(), minutes(60), latched)


def test_a_stale_unhealthy_or_missing_signal_is_judged() -> None:
    assert not gate_answer(Scenario(end=minutes(10)), minutes(12))
    assert not gate_answer(Scenario(health={Signal.LATENCY_P50: Health.ERROR}), minutes(60))
    assert not gate_answer(Scenario(drop=[Signal.RESTARTS]), minutes(60))


def test_a_newest_value_above_a_latch_bound_is_judged() -> None:
    for signal, value in (
        (Signal.LATENCY_P99, 1.2),
        (Signal.CPU_SATURATION, 0.95),
        (Signal.MEMORY_SATURATION, 0.95),
    ):
        assert not gate_answer(Scenario({signal: step(0.3, value, minutes(60))}), minutes(60))


def test_an_own_slo_bound_is_the_latency_gate() -> None:
    slow = {Signal.LATENCY_P99: step(0.2, 0.6, minutes(60))}
    assert gate_answer(Scenario(slow), minutes(60))
    assert not gate_answer(Scenario(slow, inv=inventory(latency_p99=0.5)), minutes(60))


def test_a_burning_short_window_is_judged() -> None:
    burning = {Signal.ERROR_RATIO: step(0.0002, 0.05, minutes(58))}
    assert not gate_answer(Scenario(burning), minutes(60))


def test_a_restart_within_the_window_is_judged_and_ages_out() -> None:
    bumped = Scenario({Signal.RESTARTS: step(0.0, 1.0, minutes(55))})
    assert not gate_answer(bumped, minutes(60))
    assert gate_answer(bumped, minutes(66))


def test_a_climbing_memory_is_judged() -> None:
    climbing = {Signal.MEMORY_SATURATION: lambda s: 0.3 + max(0.0, s) * 0.0002}
    assert not gate_answer(Scenario(climbing), minutes(40))


def test_an_idle_cpu_with_enough_history_is_judged() -> None:
    assert not gate_answer(Scenario({Signal.CPU_SATURATION: lambda s: 0.05}), minutes(60))


def test_a_deploy_without_rollout_complete_is_judged_once_past_the_deadline() -> None:
    deploy = Scenario(events=[make_event(EventKind.DEPLOY, minutes(50), revision=4)])
    assert gate_answer(deploy, minutes(55))
    assert not gate_answer(deploy, minutes(61))
    done = Scenario(
        events=[
            make_event(EventKind.DEPLOY, minutes(50), revision=4),
            make_event(EventKind.ROLLOUT_COMPLETE, minutes(52), revision=4),
        ]
    )
    assert gate_answer(done, minutes(61))


# -- through detect(): the gated outcome equals judging every workload -----------------------


def test_detect_with_the_gate_matches_judging_every_workload() -> None:
    scenarios = [
        Scenario(),
        Scenario({Signal.ERROR_RATIO: between(0.0002, 0.05, minutes(20), minutes(40))}),
        Scenario({Signal.RESTARTS: lambda s: float(max(0, int(s // 120))) if s > 0 else 0.0}),
        Scenario({Signal.LATENCY_P99: between(0.2, 1.5, minutes(10), minutes(30))}),
    ]
    refs = [f"w{i}" for i in range(len(scenarios))]
    for scenario, name in zip(scenarios, refs, strict=True):
        scenario.inventory = inventory(WEB.model_copy(update={"name": name}))
    outcomes = run(scenarios, ticks(0, minutes(60)))
    state = DetectionState.empty()
    for tick, outcome in zip(ticks(0, minutes(60)), outcomes, strict=True):
        now = at(tick)
        expected = {}
        for scenario in scenarios:
            key = scenario.inventory.ref.key
            expected[key] = judge(scenario.view(tick), state.memory(key), SETTINGS, now)
        assert dict(outcome.statuses) == {k: j.status for k, j in expected.items()}
        assert outcome.state == DetectionState.of({k: j.memory for k, j in expected.items()})
        judged = expected.values()
        assert outcome.opened == tuple(j.lifecycle.incident for j in judged if j.lifecycle.opened)
        assert outcome.resolved == tuple(
            j.lifecycle.resolved for j in judged if j.lifecycle.resolved
        )
        state = outcome.state
    assert any(outcome.open for outcome in outcomes)


# -- sweeps: every detector fires somewhere in its scenario; the gate is sound at every tick -


def climb(start_s: float, per_second: float) -> Callable[[float], float]:
    """Memory at 0.3, rising by ``per_second`` from ``start_s`` on."""
    return lambda s: 0.3 + max(0.0, s - start_s) * per_second


def uneven_errors(s: float) -> float:
    """Errors whose last 5 minutes burn just past the first pair's factor (20x against
    14.4) while the 30 minutes burn under the second's (7.5x against 6 x 1.5) and the hour,
    thanks to an older burst, burns well past 14.4: a gate reading only the short windows
    loosely would miss it."""
    if s < 0:
        return 0.0002
    if s < minutes(30):
        return 0.03
    return 0.005 if s < minutes(55) else 0.02


SWEEPS: dict[str, Scenario] = {
    "latency": Scenario({Signal.LATENCY_P99: between(0.2, 1.1, minutes(10), minutes(30))}),
    "own slo": Scenario(
        {Signal.LATENCY_P99: between(0.2, 0.6, minutes(10), minutes(30))},
        inv=inventory(latency_p99=0.5),
    ),
    "cpu": Scenario({Signal.CPU_SATURATION: between(0.5, 0.92, minutes(10), minutes(30))}),
    "memory": Scenario({Signal.MEMORY_SATURATION: between(0.4, 0.93, minutes(10), minutes(30))}),
    "burn": Scenario({Signal.ERROR_RATIO: between(0.0002, 0.02, minutes(5), minutes(90))}),
    "burn, uneven": Scenario({Signal.ERROR_RATIO: uneven_errors}),
    "leak": Scenario({Signal.MEMORY_SATURATION: climb(minutes(0), 0.00012)}),
    "restart burst": Scenario({Signal.RESTARTS: step(0.0, 6.0, minutes(20))}),
    "crash loop": Scenario(
        {Signal.RESTARTS: lambda s: float(min(4, max(0, int((s - minutes(20)) // 90) + 1)))}
    ),
    "over-provisioned": Scenario({Signal.CPU_SATURATION: const(0.15)}),
    "stuck rollout": Scenario(events=[make_event(EventKind.DEPLOY, minutes(5), revision=4)]),
}
"""One scenario per detector (levels just past each bound) over an hour of ticks."""


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_the_gate_is_sound_at_every_tick_of_a_firing_scenario(name: str) -> None:
    scenario = SWEEPS[name]
    state, fired, skipped = DetectionState.empty(), False, 0
    for tick in ticks(0, minutes(60)):
        memory = state.memory(WEB.key)
        skipped += gate_answer(scenario, tick, memory)
        outcome = detect([scenario.view(tick)], state, SETTINGS, at(tick))
        fired = fired or bool(outcome.opened)
        state = outcome.state
    assert fired, f"{name}: the scenario must make its detector fire"
    assert name == "over-provisioned" or skipped, f"{name}: quiet ticks exist around the fault"


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_the_gate_is_sound_at_every_tick_without_memory(name: str) -> None:
    """The gate asked with an empty memory at every tick: where judge would open an
    incident from nothing, the gate must say no."""
    scenario = SWEEPS[name]
    for tick in ticks(0, minutes(60)):
        gate_answer(scenario, tick)
