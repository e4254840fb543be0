"""Shared fixtures and the opt-in switches for slow tiers (e2e needs a cluster, llm a key)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "incidents"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--with-e2e", action="store_true", help="also run tests needing a cluster")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--with-e2e"):
        return
    skip = pytest.mark.skip(reason="needs a real cluster: pass --with-e2e")
    for item in items:
        # The marker, not ``item.keywords``: a test's folder names are keywords too, and the
        # simulated-cluster end-to-end tests in tests/e2e/ need no cluster and must run.
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(skip)


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


def pytest_configure(config: pytest.Config) -> None:
    """CI must never skip the real-backend tests silently: their binaries must be there."""
    import os
    import shutil

    if os.environ.get("CI") == "true":
        missing = [b for b in ("prometheus", "promtool") if shutil.which(b) is None]
        if missing:
            raise pytest.UsageError(f"CI needs {missing} installed (scripts/test.sh does it)")
