"""CI regression: ``aiops eval`` over the vendored PetShop test split, gated at today's floors.

The floors are what the controller reached when the development set was imported (before
any decision change, docs/evaluation.md); they may only be raised. A change that makes
decisions worse on real data fails here with the metric and both numbers. No time limit is
asserted (the run takes ~15 s of CPU on two cores); the ``--jobs 2`` run exercises the
process pool.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_runner import aiops
from tests.conftest import REPO

TEST_SPLIT = REPO / "bench" / "petshop" / "incidents" / "test"
FLOORS = {
    "detection_rate": 0.87,
    "detected_within_3": 0.81,
    "top1": 0.27,
    "top3": 0.33,
    "fault_class_accuracy": 0.18,
    "preferred_rate": 0.47,
    "acceptable_rate": 0.58,
}
LIMITS = {
    "forbidden_rate": 0.0,
    "false_action_rate": 0.0,
    "false_alarm_rate": 0.70,
    "skipped": 0,
}


def test_petshop_test_split_stays_above_its_floors(tmp_path: Path) -> None:
    gates = [f"{name}={value}" for name, value in {**FLOORS, **LIMITS}.items()]
    args: list[str | Path] = ["eval", TEST_SPLIT, "--jobs", "2", "--format", "json"]
    for gate in gates:
        args += ["--fail-under", gate]
    done = aiops(*args, cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert report["gate_failures"] == [], report["gate_failures"]
    assert done.returncode == 0, done.stderr
    summary = report["summary"]
    assert (summary["faulty"], summary["fault_free"], summary["skipped"]) == (48, 118, 0)
    assert report["baseline"][0]["metric"] == "top1"
    assert "Traceback" not in done.stderr
