"""Prometheus observer benchmark: ``python -m bench.prometheus`` (from the repository root).

Loads a real Prometheus on 127.0.0.1 with N workloads of history (bench/prom_fleet.py:
promtool backfill, cached), then runs the live observer in a fresh child process per case
(bench/prom_child.py) and prints, per case: queries per tick, first and warm tick CPU seconds
and wall time, resident set after the warm ticks and its peak, message sizes, and the ratios
to two floors measured in the same child (the bare fetch of the same answers, and building
one SeriesData per stored series). Cases: the scaling sizes (queries per tick must not grow
with N) and the issue's no-data case (1,000 present and 5,000 absent workloads).

Targets (issue 10): queries per tick constant in N; a warm tick under 2 s CPU and 500 MB RSS
at the largest size on this 2-core machine; no tick raises.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from bench import prom_fleet

ROOT = Path(__file__).resolve().parent.parent
WARM_CPU_S = 2.0
WARM_RSS_MIB = 500.0
Out = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class Case:
    """One measured run: how many workloads are present and absent, and its figures."""

    name: str
    figures: dict[str, Any]

    @property
    def first(self) -> dict[str, Any]:
        """The first tick (the whole lookback)."""
        ticks: list[dict[str, Any]] = self.figures["ticks"]
        return ticks[0]

    @property
    def warm(self) -> list[dict[str, Any]]:
        """The ticks after the first."""
        ticks: list[dict[str, Any]] = self.figures["ticks"]
        return ticks[1:]

    @property
    def warm_cpu(self) -> float:
        """Median CPU seconds of a warm tick."""
        return median(t["cpu_s"] for t in self.warm) if self.warm else 0.0

    @property
    def warm_gc(self) -> float:
        """Median seconds the garbage collector ran inside a warm tick."""
        return median(t["gc_s"] for t in self.warm) if self.warm else 0.0

    @property
    def warm_rss(self) -> float:
        """Largest resident set after a warm tick, MiB."""
        return max((t["rss_mib"] for t in self.warm), default=0.0)

    @property
    def queries(self) -> list[int]:
        """Queries Prometheus answered in each tick."""
        return [int(t["queries"]) for t in self.figures["ticks"]]

    @property
    def raised(self) -> list[str]:
        """What any tick raised."""
        return [t["raised"] for t in self.figures["ticks"] if t["raised"]]


def _ratio(part: float, whole: float) -> str:
    return f"{part / whole:.1f}" if whole > 0 else "n/a"


def run_case(url: str, present: int, absent: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run in a fresh interpreter (its RSS and imports its own), or here if asked."""
    if args.in_process:
        from bench import prom_child

        return prom_child.measure(url, present, absent, args.lookback, args.step, args.ticks)
    command = [sys.executable, "-m", "bench.prom_child", "--url", url]
    command += ["--present", str(present), "--absent", str(absent)]
    command += ["--lookback", str(args.lookback), "--step", str(args.step)]
    command += ["--ticks", str(args.ticks)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({present}+{absent}):\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# -- reporting --------------------------------------------------------------------------------

COLUMNS = (
    ("case", 22),
    ("watched", 7),
    ("q/tick", 9),
    ("first cpu", 9),
    ("first wall", 10),
    ("warm cpu", 8),
    ("warm wall", 9),
    ("x fetch", 7),
    ("warm gc", 7),
    ("SD floor", 8),
    ("RSS MiB", 7),
    ("peak MiB", 8),
    ("msg max", 7),
    ("msg MB", 7),
)


def _line(cells: Sequence[str]) -> str:
    return "  ".join(
        f"{cell:>{width}}" if i else f"{cell:<{width}}"
        for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
    )


def header() -> str:
    """The table header."""
    return _line([name for name, _ in COLUMNS])


def row(case: Case) -> str:
    """One table row: warm figures are medians (CPU) or maxima (RSS, messages)."""
    f, first, warm = case.figures, case.first, case.warm
    queries = sorted(set(case.queries))
    cells = (
        case.name,
        f"{f['watched']}",
        "/".join(str(q) for q in queries),
        f"{first['cpu_s']:.2f}",
        f"{first['wall_s']:.2f}",
        f"{case.warm_cpu:.2f}",
        f"{median(t['wall_s'] for t in warm) if warm else 0:.2f}",
        _ratio(case.warm_cpu, f["fetch_floor_warm_s"]),
        f"{case.warm_gc:.2f}",
        f"{f['seriesdata_floor_s']:.2f}",
        f"{case.warm_rss:.0f}",
        f"{f['rss_peak_mib']:.0f}",
        f"{max(t['message_max'] for t in f['ticks'])}",
        f"{max(t['message_bytes'] for t in f['ticks']) / 1e6:.2f}",
    )
    return _line(cells)


def verdicts(scaled: Sequence[Case], cases: Sequence[Case]) -> list[str]:
    """Each target with the figure that meets or misses it."""
    largest = max(scaled, key=lambda c: c.figures["watched"])
    per_tick = sorted({q for case in scaled for q in case.queries})
    raised = [r for case in cases for r in case.raised]

    def met(ok: bool) -> str:
        return "met" if ok else "missed"

    return [
        f"queries per tick over N = {', '.join(str(c.figures['watched']) for c in scaled)}: "
        f"{per_tick} (target: constant in N: {met(len(per_tick) == 1)})",
        f"warm tick at N = {largest.figures['watched']}: {largest.warm_cpu:.2f} s CPU "
        f"(target < {WARM_CPU_S:g} s: {met(largest.warm_cpu < WARM_CPU_S)}), "
        f"{largest.warm_rss:.0f} MiB RSS (target < {WARM_RSS_MIB:g} MB: "
        f"{met(largest.warm_rss * 1.048576 < WARM_RSS_MIB)})",
        f"ticks that raised: {len(raised)} (target 0: {met(not raised)})"
        + (f": {raised[0]}" if raised else ""),
    ]


def floors(case: Case) -> str:
    """The floors of one case, against its first and warm ticks."""
    f = case.figures
    return (
        f"{case.name}: fetch floor first {f['fetch_floor_first_s']:.2f} s "
        f"(first tick x{_ratio(case.first['cpu_s'], f['fetch_floor_first_s'])}), "
        f"warm {f['fetch_floor_warm_s']:.2f} s (warm tick x"
        f"{_ratio(case.warm_cpu, f['fetch_floor_warm_s'])}); one SeriesData per stored series "
        f"({f['samples']:,} samples): {f['seriesdata_floor_s']:.2f} s = "
        f"{_share(f['seriesdata_floor_s'], case.warm_cpu)} of the warm tick; the garbage "
        f"collector ran {case.warm_gc:.2f} s of it ({_share(case.warm_gc, case.warm_cpu)})"
    )


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "n/a"


# -- main -------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.prometheus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workloads", type=int, default=10_000, help="N loaded (largest size).")
    parser.add_argument("--sizes", default=None, help="Watched sizes (default N/10,N/3,N).")
    parser.add_argument("--lookback", type=float, default=3600.0, help="Seconds of history.")
    parser.add_argument("--step", type=float, default=30.0, help="Seconds between steps.")
    parser.add_argument("--ticks", type=int, default=3, help="Warm ticks after the first.")
    parser.add_argument(
        "--no-data", default="1000,5000", help="PRESENT,ABSENT of the no-data case ('' to skip)."
    )
    parser.add_argument("--in-process", action="store_true", help="No child processes.")
    parser.add_argument("--json", type=Path, default=None, help="Write every figure here.")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "aiops-bench",
        help="Where the backfilled blocks are kept and reused.",
    )
    return parser.parse_args(argv)


def _sizes(args: argparse.Namespace) -> list[int]:
    if args.sizes:
        return [int(size) for size in args.sizes.split(",") if size]
    n = args.workloads
    return sorted({max(1, n // 10), max(1, n // 3), n})


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed (scripts/test.sh installs Prometheus)")
    return path


def main(argv: Sequence[str] | None = None, out: Out = sys.stdout.write) -> int:
    """Load Prometheus, run every case, print the table, the floors and the verdicts."""
    args = parse(argv)
    sizes = _sizes(args)
    no_data = [int(x) for x in args.no_data.split(",")] if args.no_data else []
    loaded = max([*sizes, *no_data[:1]])
    span = int(args.lookback + (args.ticks + 2) * args.step)
    out(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, blocks in {args.workdir}\n")
    out(f"{loaded} workloads x {span} s of history at {args.step:g} s; lookback ")
    out(f"{args.lookback:g} s; {args.ticks} warm ticks per case\n\n")
    path = prom_fleet.blocks(_binary("promtool"), args.workdir, loaded, span, int(args.step))
    scaled: list[Case] = []
    with prom_fleet.Server(_binary("prometheus"), path) as server:
        out(header() + "\n")
        for size in sizes:
            scaled.append(Case(f"N={size}", run_case(server.url, size, 0, args)))
            out(row(scaled[-1]) + "\n")
        cases = list(scaled)
        if no_data:
            present, missing = no_data
            figures = run_case(server.url, present, missing, args)
            cases.append(Case(f"{present}+{missing} absent", figures))
            out(row(cases[-1]) + "\n")
    out("\n" + "\n".join(floors(case) for case in cases) + "\n")
    out("\n" + "\n".join(verdicts(scaled, cases)) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps([{"case": c.name, **c.figures} for c in cases], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
