"""The replay benchmark runs end to end at a tiny size and prints numbers (no timing limits)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.child import peak_rss_mib
from bench.replay import main
from bench.synth import Spec, generate
from controller.incident_loader import load_incident


def test_generated_files_load_and_carry_one_fault_and_background_events(tmp_path: Path) -> None:
    quiet = load_incident(generate(Spec(12, hours=3, events=False, traces=True), tmp_path))
    busy = load_incident(generate(Spec(12, hours=3, all_signals=True), tmp_path))
    assert len(quiet.workloads) == 12 and len(quiet.series) == 12 * 6
    assert len(quiet.traces) == 12 + 10  # every service, plus an edge into each callee
    assert [e.kind.value for e in quiet.events] == ["deploy", "rollout_complete"] * 2
    assert len(busy.events) > len(quiet.events) and len(busy.series) == 12 * 8
    assert busy.ground_truth is not None and busy.ground_truth.fault.value == "bad_deploy"
    assert any(v is None for s in busy.series for v in s.values)  # rare gaps


def test_bench_prints_a_table_an_exponent_and_writes_figures(tmp_path: Path) -> None:
    lines: list[str] = []
    figures = tmp_path / "figures.json"
    argv = ["--no-headline", "--sizes", "1,2", "--scale-hours", "0.1", "--variants", "events"]
    argv += ["--in-process", "--workdir", str(tmp_path), "--json", str(figures)]
    assert main(argv, out=lines.append) == 0
    text = "".join(lines)
    assert re.search(r"events: replay time ~ N\^-?\d+\.\d\d over N = 1,2", text), text
    rows = json.loads(figures.read_text())
    assert [row["workloads"] for row in rows] == [1, 2]
    for row in rows:
        assert row["ticks"] == 24 and row["replay_s"] > 0 and row["floor_python_s"] > 0
        assert row["rss_peak_mib"] >= row["rss_loaded_mib"] > 0
    assert peak_rss_mib() > 0
