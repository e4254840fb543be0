"""Session fixtures: the recording backfilled into a real Prometheus on 127.0.0.1."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from controller.models.base import from_epoch
from tests.adapters.prometheus.helpers import OPENED
from tests.adapters.prometheus.recording import STEP, Recording
from tests.adapters.prometheus.servers import (
    PrometheusServer,
    RecordingProxy,
    free_port,
    openmetrics_blocks,
    require_binary,
)


def _binary(name: str) -> str:
    return require_binary(name)


@pytest.fixture(scope="session")
def recording() -> Recording:
    """3 h of 30-s samples ending at the current time rounded down to the step."""
    return Recording(end=int(time.time()) // STEP * STEP)


@pytest.fixture(scope="session")
def blocks(tmp_path_factory: pytest.TempPathFactory, recording: Recording) -> Path:
    """The recording as TSDB blocks (promtool's OpenMetrics backfill), never served directly."""
    promtool = _binary("promtool")
    _binary("prometheus")
    root = tmp_path_factory.mktemp("recording")
    return openmetrics_blocks(promtool, recording.text(), root, "blocks")


@pytest.fixture(scope="session")
def start_server(
    tmp_path_factory: pytest.TempPathFactory, blocks: Path
) -> Iterator[Callable[[], PrometheusServer]]:
    """Start a Prometheus over a private copy of the blocks; all are stopped at the end."""
    started: list[PrometheusServer] = []

    def start() -> PrometheusServer:
        root = tmp_path_factory.mktemp("prometheus")
        data = root / "data"
        shutil.copytree(blocks, data)
        server = PrometheusServer(_binary("prometheus"), data, free_port(), root / "log.txt")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def prometheus(start_server: Callable[[], PrometheusServer]) -> PrometheusServer:
    """The shared, read-only server for tests that do not break it."""
    return start_server()


@pytest.fixture
def proxy(prometheus: PrometheusServer) -> Iterator[RecordingProxy]:
    """A fresh recording proxy in front of the shared server."""
    with RecordingProxy(prometheus.port) as running:
        yield running


@pytest.fixture
def now(recording: Recording) -> datetime:
    """The observer's "now": the end of the recording."""
    return from_epoch(recording.end)


@pytest.fixture(autouse=True)
def _close_observers() -> Iterator[None]:
    """Close every observer a test built (their HTTP sessions hold pooled sockets)."""
    yield
    while OPENED:
        OPENED.pop().close()
