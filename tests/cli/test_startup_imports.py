"""``aiops version`` and ``aiops --help`` start fast: they never import what only a command's
run needs (the trace receiver's web stack and protobuf, LangGraph, the Anthropic SDK).

Each check runs the real command in a fresh interpreter with ``-X importtime``, which lists
every module the process imported on stderr.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from controller.cli.flags import ApprovalsFlag, PlannerFlag
from controller.replay.inputs import ApprovalsMode, PlannerMode
from tests.conftest import REPO

HEAVY = ("uvicorn", "starlette", "google.protobuf", "langgraph", "anthropic")
"""Imported only by the commands that use them, when they run."""
NOT_FOR_VERSION = (*HEAVY, "rich.traceback", "structlog", "controller.replay", "controller.models")
"""``version`` needs none of the controller either (``--help`` lets Typer render with Rich)."""


def _imported(*args: str) -> set[str]:
    """The modules ``python -X importtime <args>`` imported (it prints one line per module)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    names = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert "controller" in names, "importtime output was not parsed"
    return names


def _loaded(names: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in packages))


def test_importing_the_cli_loads_no_command_stack() -> None:
    assert _loaded(_imported("-c", "import controller.cli"), NOT_FOR_VERSION) == []


def test_version_loads_no_command_stack() -> None:
    assert _loaded(_imported("-m", "controller", "version"), NOT_FOR_VERSION) == []


@pytest.mark.parametrize(
    "args", [["--help"], ["replay", "--help"], ["capture", "--help"], ["run", "--help"]]
)
def test_help_loads_no_heavy_stack(args: list[str]) -> None:
    assert _loaded(_imported("-m", "controller", *args), HEAVY) == []


def test_the_mode_flags_spell_the_replay_modes() -> None:
    """The flags are enums of their own so that parsing them imports no replay code."""
    assert [m.value for m in ApprovalsFlag] == [m.value for m in ApprovalsMode]
    assert [m.value for m in PlannerFlag] == [m.value for m in PlannerMode]
