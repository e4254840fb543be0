"""One measured replay, in a process of its own: ``python -m bench.child FILE [--profile OUT]``.

Loads the incident file the way ``aiops replay`` does (bundled policy and runbooks, default
settings, the default approvals mode, a file ledger), times ``run_replay``, then times the
floor over the same loaded series, and prints one JSON object on stdout. Memory figures come
from the kernel's accounting of this process (``VmHWM``, the peak resident set), read after
each phase, so the peak covers loading and replaying.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB


def _inputs(path: Path) -> Any:
    """ReplayInputs for ``path`` as the CLI builds them with no flags."""
    from controller.bundled import default_policy, default_runbooks
    from controller.guardrails.loader import load_policy
    from controller.incident_loader import load_incident
    from controller.logging import configure_logging
    from controller.planner.runbook.catalog import load_runbooks
    from controller.replay.inputs import ReplayInputs, default_approvals_mode
    from controller.settings import Settings

    settings = Settings()
    configure_logging(settings.log)
    incident = load_incident(path)
    return ReplayInputs(
        incident=incident,
        source=str(path),
        policy=load_policy(default_policy()),
        runbooks=load_runbooks(default_runbooks()),
        settings=settings,
        approvals=default_approvals_mode(incident),
    )


def _replay(inputs: Any, profile: Path | None) -> tuple[Any, float, float]:
    """Run the replay (under cProfile when asked); the result, its wall and CPU time.

    CPU time (the whole process, planner thread included) is reported too: on a shared
    machine it drifts far less than wall time when other work takes the cores.
    """
    from controller.ledger import LedgerWriter
    from controller.replay.engine import run_replay

    profiler = cProfile.Profile() if profile is not None else None
    with tempfile.TemporaryDirectory() as scratch:
        with LedgerWriter(Path(scratch) / "bench.ledger.jsonl") as ledger:
            started, cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            result = run_replay(inputs, ledger)
            if profiler is not None:
                profiler.disable()
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    return result, seconds, cpu_seconds


def _floors(inputs: Any) -> dict[str, Any]:
    """The floor over the very series the replay read."""
    from bench.floor import numpy_floor, python_floor

    series = [s.values for s in inputs.incident.series]
    plain, vectorised = python_floor(series), numpy_floor(series)
    return {
        "floor_python_s": plain.seconds,
        "floor_numpy_s": None if vectorised is None else vectorised.seconds,
        "floor_flagged": plain.flagged,
    }


def measure(path: Path, profile: Path | None = None) -> dict[str, Any]:
    """Load, replay and floor one file; every figure of the run."""
    from controller.replay.inputs import tick_interval

    rss_start = peak_rss_mib()
    started = time.perf_counter()
    inputs = _inputs(path)
    load_s = time.perf_counter() - started
    rss_loaded = peak_rss_mib()
    result, replay_s, replay_cpu_s = _replay(inputs, profile)
    rss_replayed = peak_rss_mib()
    window = inputs.incident.window
    return {
        "file": str(path),
        "workloads": len(inputs.incident.workloads),
        "events": len(inputs.incident.events),
        "ticks": int((window.end - window.start) / tick_interval(inputs)),
        "samples": sum(len(s.timestamps) for s in inputs.incident.series),
        "load_s": load_s,
        "replay_s": replay_s,
        "replay_cpu_s": replay_cpu_s,
        "incidents": len(result.incidents),
        "actions": len(result.actions),
        "rss_start_mib": rss_start,
        "rss_loaded_mib": rss_loaded,
        "rss_peak_mib": rss_replayed,
        **_floors(inputs),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure one file and print the figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.child", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--profile", type=Path, default=None, help="Write cProfile stats here.")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.file, args.profile)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
