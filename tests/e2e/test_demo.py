"""``aiops demo --approve-all`` as a subprocess: it plays the bad deploy to a verified
rollback, prints the timeline, cleans up and exits 0, within a bounded time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

DEMO_WITHIN = 150.0
"""Seconds for the whole demo (about a minute on an idle machine) plus interpreter start."""


def test_demo_approve_all_applies_and_verifies(tmp_path: Path) -> None:
    environ = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path), "COLUMNS": "200"}
    environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, "-m", "controller", "demo", "--approve-all", "--timeout", "120"],
        cwd=tmp_path, env=environ, stdin=subprocess.DEVNULL, capture_output=True,
        timeout=DEMO_WITHIN,
    )  # fmt: skip
    out = done.stdout.decode("utf-8", errors="replace")
    assert done.returncode == 0, out + done.stderr.decode("utf-8", errors="replace")[-4000:]
    order = ["detection", "proposal", "approval_requested", "approval", "action", "verification"]
    positions = [out.find(f" {kind} ") for kind in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), out
    assert "rollback: applied" in out, out
    assert "verification" in out and "improved" in out, out
    assert "done: verified improved" in out, out
    assert list(tmp_path.glob("aiops-demo-*")) == [], "the demo left its temp folder behind"


def test_demo_refuses_without_a_terminal_or_an_answer_flag() -> None:
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "controller", "demo"], env=environ, stdin=subprocess.DEVNULL,
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert b"--approve-all" in done.stderr + done.stdout
