"""Run the ``aiops`` CLI as a user does: a child process, its own working folder, bounded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TIMEOUT_SECONDS = 300


def aiops(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m controller <args>`` in ``cwd`` (``env``: the whole environment, if given)."""
    return subprocess.run(
        [sys.executable, "-m", "controller", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def without_api_key(key: str | None = None) -> dict[str, str]:
    """This process's environment with ``ANTHROPIC_API_KEY`` removed, or set to ``key``."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    if key is not None:
        env["ANTHROPIC_API_KEY"] = key
    return env
