"""The tick scheduler on a fake clock: the grid, skips instead of bursts, no drift, stops."""

from __future__ import annotations

import threading

import pytest

from controller.operator.scheduler import TickScheduler, next_due


class FakeTime:
    """A monotonic clock that only moves when waited on or when a tick spends time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def run(durations: list[float], interval: float = 10.0) -> tuple[list[float], TickScheduler]:
    clock = FakeTime()
    started: list[float] = []
    costs = iter(durations)

    def tick() -> None:
        started.append(clock.now)
        clock.now += next(costs)

    scheduler = TickScheduler(interval, monotonic=clock.monotonic, wait=clock.wait)
    scheduler.run(tick, max_ticks=len(durations))
    return started, scheduler


def test_ticks_start_on_the_grid_whatever_they_cost() -> None:
    started, scheduler = run([0.5, 3.0, 9.9, 0.0])
    assert started == [100.0, 110.0, 120.0, 130.0]  # no drift by the ticks' own duration
    assert scheduler.stats.skipped == 0
    assert scheduler.stats.longest == pytest.approx(9.9)


def test_an_overrun_skips_the_missed_slots_and_never_bursts() -> None:
    started, scheduler = run([25.0, 1.0, 1.0])
    # The first tick ran 100..125: slots 110 and 120 are skipped, the next starts at 130.
    assert started == [100.0, 130.0, 140.0]
    assert scheduler.stats.skipped == 2


def test_a_tick_ending_exactly_on_the_next_slot_skips_it() -> None:
    assert next_due(100.0, 110.0, 10.0) == (120.0, 1)
    assert next_due(100.0, 109.999, 10.0) == (110.0, 0)
    assert next_due(100.0, 145.0, 10.0) == (150.0, 4)


def test_skips_are_reported() -> None:
    clock = FakeTime()
    reported: list[int] = []

    def tick() -> None:
        clock.now += 31.0

    TickScheduler(10.0, monotonic=clock.monotonic, wait=clock.wait, on_skip=reported.append).run(
        tick, max_ticks=2
    )
    assert reported == [3, 3]


def test_stop_during_a_wait_ends_the_run_without_another_tick() -> None:
    stop = threading.Event()
    clock = FakeTime()
    ticks: list[float] = []

    def wait(seconds: float) -> bool:
        stop.set()  # SIGTERM arrives while waiting for the next slot
        return True

    scheduler = TickScheduler(10.0, stop=stop, monotonic=clock.monotonic, wait=wait)
    stats = scheduler.run(lambda: ticks.append(clock.now), max_ticks=5)
    assert ticks == [100.0]
    assert stats.ticks == 1


def test_a_stop_set_by_the_tick_itself_is_honoured_before_the_next() -> None:
    stop = threading.Event()
    clock = FakeTime()
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        stop.set()

    TickScheduler(1.0, stop=stop, monotonic=clock.monotonic, wait=clock.wait).run(tick)
    assert count == 1


def test_the_real_wait_is_the_stop_event() -> None:
    """Bounded: a stop set before the run makes it return at once, no tick."""
    stop = threading.Event()
    stop.set()
    assert TickScheduler(3600.0, stop=stop).run(lambda: None).ticks == 0


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TickScheduler(0.0)
