"""The Prometheus observer benchmark runs end to end at a tiny N and prints its verdicts.

No timing limits: the figures of a shared machine are not a test. What must hold at any
size is checked: eight queries per tick, every present workload ok, every absent one
no_data, nothing raised, short messages.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.prometheus import main
from controller.models.signals import Signal
from tests.adapters.prometheus.servers import require_binary


def test_bench_loads_prometheus_runs_every_case_and_prints_the_targets(tmp_path: Path) -> None:
    require_binary("prometheus")
    require_binary("promtool")
    lines: list[str] = []
    figures = tmp_path / "figures.json"
    argv = ["--workloads", "30", "--ticks", "1", "--lookback", "300", "--no-data", "5,20"]
    argv += ["--in-process", "--workdir", str(tmp_path), "--json", str(figures)]
    assert main(argv, out=lines.append) == 0
    text = "".join(lines)
    assert "queries per tick over N = 3, 10, 30: [8] (target: constant in N: met)" in text
    assert "ticks that raised: 0 (target 0: met)" in text
    assert "warm tick at N = 30:" in text and "fetch floor first" in text
    rows = json.loads(figures.read_text())
    assert [(row["present"], row["absent"]) for row in rows] == [(3, 0), (10, 0), (30, 0), (5, 20)]
    signals = len(Signal)
    for row in rows:
        assert len(row["ticks"]) == 2
        for tick in row["ticks"]:
            assert tick["queries"] == signals and tick["raised"] is None
            assert tick["health"].get("ok", 0) == row["present"] * signals
            assert tick["health"].get("no_data", 0) == row["absent"] * signals
            assert tick["message_max"] <= 200
        assert row["seriesdata_floor_s"] >= 0 and row["fetch_floor_warm_s"] > 0
