"""Replay benchmark: ``python -m bench.replay`` (from the repository root).

Generates fleet-sized incident files (bench/synth.py), replays each in a fresh child process
(bench/child.py) and prints, per case: ticks, events, load and replay wall time, peak RSS, the
rolling z-score floor measured in the same process over the same series, and the replay's
ratio to that floor. Then a scaling table over ``--sizes`` with and without background events,
with the exponent of a least-squares fit of log(replay time) on log(N) (1 is linear).

The headline cases are the issue's targets: 100 workloads x 24 h x 15 s (<= 10 s, <= 300 MB)
and 1000 workloads x 1 h (<= 5 s). ``--profile DIR`` also runs the headline cases and the
largest scaling case with events under cProfile and prints the top entries.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pstats
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from bench.synth import Spec, generate

ROOT = Path(__file__).resolve().parent.parent
HEADLINE = (
    (Spec(100, hours=24), 10.0, 300.0),
    (Spec(1000, hours=1), 5.0, None),
)
"""(case, replay seconds target, peak RSS MiB target)."""
Out = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class Case:
    """One measured file: its spec and the child's figures."""

    spec: Spec
    figures: dict[str, Any]

    @property
    def replay_s(self) -> float:
        """Wall time of ``run_replay``."""
        return float(self.figures["replay_s"])

    @property
    def ratio(self) -> float:
        """Replay time over the plain-Python floor."""
        floor = float(self.figures["floor_python_s"])
        return self.replay_s / floor if floor > 0 else math.inf


def run_child(path: Path, profile: Path | None = None, timeout: float = 3600.0) -> dict[str, Any]:
    """Measure ``path`` in a fresh interpreter (so that RSS and imports are its own)."""
    command = [sys.executable, "-m", "bench.child", str(path)]
    if profile is not None:
        command += ["--profile", str(profile)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed on {path}:\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run_here(path: Path, profile: Path | None = None) -> dict[str, Any]:
    """Measure ``path`` in this process (quick; peak RSS is then this process's so far)."""
    from bench import child

    return child.measure(path, profile)


def measure(
    spec: Spec, workdir: Path, repeat: int, profile: Path | None = None, in_process: bool = False
) -> Case:
    """The median run of ``repeat`` children (by replay time) for ``spec``."""
    path = generate(spec, workdir)
    run = run_here if in_process else run_child
    runs = [run(path) for _ in range(repeat)]
    runs.sort(key=lambda figures: float(figures["replay_s"]))
    if profile is not None:
        run(path, profile / f"{spec.name}.prof")
    return Case(spec, runs[len(runs) // 2])


# -- reporting --------------------------------------------------------------------------------

COLUMNS = (
    ("case", 34),
    ("N", 5),
    ("ticks", 6),
    ("events", 6),
    ("load s", 7),
    ("replay s", 8),
    ("cpu s", 7),
    ("floor s", 7),
    ("x floor", 7),
    ("peak MiB", 8),
)


def header() -> str:
    """The table header."""
    return "  ".join(
        f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, width) in enumerate(COLUMNS)
    )


def row(case: Case) -> str:
    """One table row."""
    f = case.figures
    cells = (
        case.spec.name,
        f"{case.spec.workloads}",
        f"{f['ticks']}",
        f"{f['events']}",
        f"{f['load_s']:.2f}",
        f"{case.replay_s:.2f}",
        f"{f.get('replay_cpu_s', math.nan):.2f}",
        f"{f['floor_python_s']:.3f}",
        f"{case.ratio:.0f}",
        f"{f['rss_peak_mib']:.0f}",
    )
    return "  ".join(
        f"{cell:>{width}}" if i else f"{cell:<{width}}"
        for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
    )


def exponent(cases: Sequence[Case]) -> float | None:
    """Slope of the least-squares line of log(replay time) on log(N)."""
    points = [(math.log(c.spec.workloads), math.log(c.replay_s)) for c in cases if c.replay_s > 0]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx if sxx > 0 else None


def verdict(case: Case, seconds: float | None, mib: float | None) -> str:
    """The case against its targets, as numbers."""
    parts = []
    if seconds is not None:
        met = "met" if case.replay_s <= seconds else "missed"
        parts.append(f"replay {case.replay_s:.2f} s (target <= {seconds:g} s: {met})")
    if mib is not None:
        peak = float(case.figures["rss_peak_mib"])
        met = "met" if peak <= mib else "missed"
        parts.append(f"peak RSS {peak:.0f} MiB (target <= {mib:g} MiB: {met})")
    return f"{case.spec.name}: " + "; ".join(parts)


def print_profile(path: Path, out: Out, top: int) -> None:
    """The top entries of one profile, by own time and by cumulative time."""
    for order in ("tottime", "cumulative"):
        text = StringIO()
        stats = pstats.Stats(str(path), stream=text)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        body = text.getvalue()
        start = body.find("   ncalls")
        out(f"\n-- {path.stem}, top {top} by {order}\n{body[start:].rstrip()}\n")


# -- main -------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="10,30,100,300", help="Workload counts to scale over.")
    parser.add_argument("--scale-hours", type=float, default=6.0, help="Window of scaling cases.")
    parser.add_argument("--step", type=int, default=15, help="Sample step in seconds.")
    parser.add_argument("--variants", default="events,quiet", help="events, quiet or both.")
    parser.add_argument("--no-headline", action="store_true", help="Skip the target cases.")
    parser.add_argument("--traces", action="store_true", help="Add trace series to every file.")
    parser.add_argument("--all-signals", action="store_true", help="Add p50 and replicas.")
    parser.add_argument("--repeat", type=int, default=1, help="Children per case (median).")
    parser.add_argument("--profile", type=Path, default=None, help="Write and print profiles.")
    parser.add_argument("--top", type=int, default=15, help="Profile entries to print.")
    parser.add_argument("--json", type=Path, default=None, help="Write every figure here.")
    parser.add_argument(
        "--in-process", action="store_true", help="No child processes (quick; RSS not per case)."
    )
    parser.add_argument(
        "--profile-size", type=int, default=None, help="Scaling size to profile (default: largest)."
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "aiops-bench",
        help="Where generated files are kept (they are reused: generation is deterministic).",
    )
    return parser.parse_args(argv)


def _spec(args: argparse.Namespace, workloads: int, hours: float, events: bool) -> Spec:
    return Spec(
        workloads,
        hours=hours,
        step_seconds=args.step,
        events=events,
        traces=args.traces,
        all_signals=args.all_signals,
    )


def headline(args: argparse.Namespace, out: Out) -> list[Case]:
    """The target cases, with their verdicts."""
    cases, verdicts = [], []
    for base, seconds, mib in HEADLINE:
        spec = _spec(args, base.workloads, base.hours, True)
        case = measure(spec, args.workdir, args.repeat, args.profile, args.in_process)
        out(row(case) + "\n")
        cases.append(case)
        verdicts.append(verdict(case, seconds, mib))
    out("\n" + "\n".join(verdicts) + "\n")
    return cases


def scaling(args: argparse.Namespace, out: Out) -> list[Case]:
    """The scaling table per variant and its fitted exponent."""
    sizes = [int(size) for size in args.sizes.split(",") if size]
    cases: list[Case] = []
    for variant in [v for v in args.variants.split(",") if v]:
        events = variant == "events"
        found = []
        profiled = max(sizes) if args.profile_size is None else args.profile_size
        for size in sizes:
            profile = args.profile if events and size == profiled else None
            spec = _spec(args, size, args.scale_hours, events)
            case = measure(spec, args.workdir, args.repeat, profile, args.in_process)
            out(row(case) + "\n")
            found.append(case)
        fitted = exponent(found)
        shown = "n/a" if fitted is None else f"{fitted:.2f}"
        out(f"{variant}: replay time ~ N^{shown} over N = {args.sizes}\n")
        cases += found
    return cases


def main(argv: Sequence[str] | None = None, out: Out = sys.stdout.write) -> int:
    """Run the benchmark and print its tables."""
    args = parse(argv)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    out(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, files in {args.workdir}\n\n")
    out(header() + "\n")
    cases = [] if args.no_headline else headline(args, out)
    if cases:
        out("\n" + header() + "\n")
    cases += scaling(args, out)
    if args.profile is not None:
        for path in sorted(args.profile.glob("*.prof")):
            print_profile(path, out, args.top)
    if args.json is not None:
        figures = [{"spec": c.spec.name, **c.figures} for c in cases]
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
