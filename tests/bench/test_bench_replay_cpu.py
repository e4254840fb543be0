"""The replay benchmark reports CPU time beside wall time (no timing limits).

On the shared two-core machine other work can double a run's wall time; the process's CPU
time is the figure that stays comparable, so the child must measure it and the table print it.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.replay import main


def test_each_case_carries_its_cpu_time_and_the_table_prints_it(tmp_path: Path) -> None:
    lines: list[str] = []
    figures = tmp_path / "figures.json"
    argv = ["--no-headline", "--sizes", "2", "--scale-hours", "0.1", "--variants", "quiet"]
    argv += ["--in-process", "--workdir", str(tmp_path), "--json", str(figures)]
    assert main(argv, out=lines.append) == 0
    assert "cpu s" in "".join(lines)
    (row,) = json.loads(figures.read_text())
    assert 0 < row["replay_cpu_s"]
