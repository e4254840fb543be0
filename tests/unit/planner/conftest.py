"""Shared fixtures for the runbook loader and planner tests: the shipped runbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.planner.runbook.catalog import Runbook, load_runbooks

RUNBOOK_DIR = Path(__file__).resolve().parents[3] / "runbooks"


@pytest.fixture(scope="session")
def runbook_dir() -> Path:
    """The repository's runbooks/ folder."""
    return RUNBOOK_DIR


@pytest.fixture(scope="session")
def shipped_runbooks() -> tuple[Runbook, ...]:
    """Every runbook the project ships, loaded once."""
    return load_runbooks(RUNBOOK_DIR)
