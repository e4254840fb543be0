"""End-to-end fixtures: the Prometheus binary is required as for every Prometheus tier.

Without it the tests skip locally and fail when ``AIOPS_REQUIRE_PROMETHEUS=1`` (CI), exactly
as tests/adapters/prometheus does (``require_binary``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from tests.adapters.prometheus.servers import require_binary


@pytest.fixture(autouse=True)
def _prometheus_binary() -> str:
    return require_binary("prometheus")


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """An in-process CLI run points structlog at its captured (then closed) stderr."""
    yield
    structlog.reset_defaults()
