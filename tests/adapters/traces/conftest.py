"""Fixtures: a simulated clock and real receivers on 127.0.0.1 (port 0), always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller.observers.traces import TraceReceiver
from controller.settings import TracesSettings
from controller.sim.fakes import SimulatedClock
from tests.adapters.traces.otel import T0

ReceiverFactory = Callable[..., TraceReceiver]


@pytest.fixture
def clock() -> SimulatedClock:
    """Time stands still unless a test moves it."""
    return SimulatedClock(T0)


@pytest.fixture
def start_receiver(clock: SimulatedClock) -> Iterator[ReceiverFactory]:
    """Start a receiver with the given TracesSettings fields (host 127.0.0.1, port 0)."""
    started: list[TraceReceiver] = []

    def start(**fields: Any) -> TraceReceiver:
        settings = TracesSettings(**{"host": "127.0.0.1", "port": 0, **fields})
        receiver = TraceReceiver(settings, clock=clock)
        receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(start_receiver: ReceiverFactory) -> TraceReceiver:
    """A receiver with default limits."""
    return start_receiver()
