"""Close every planner a test built: keep-alive sockets must not leak into later tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm.support import OPEN_PLANNERS


@pytest.fixture(autouse=True)
def _close_planners() -> Iterator[None]:
    yield
    while OPEN_PLANNERS:
        OPEN_PLANNERS.pop().close()
