"""One measured observer run, in a process of its own: ``python -m bench.prom_child ARGS``.

Builds the live observer (``build_prometheus_metrics``) over a running benchmark Prometheus,
runs a first tick (the whole lookback) and ``ticks`` warm ticks one step apart, as the loop
would (the previous tick's windows stay alive while the next one runs), and prints one JSON
object: per tick the process CPU seconds and wall time, the queries Prometheus counted, the
resident set after it, health counts and message sizes, and whether it raised.

Two baselines are timed in the same process afterwards:

- **fetch floor**: the same eight queries over the same ranges, POSTed with a plain
  ``requests`` session and decoded with ``json.loads``: the least any observer must do;
- **SeriesData floor**: building one ``SeriesData`` for every stored series from its
  arrays, i.e. what the public constructor costs a tick in which every series changed.

Each tick also reports the time the cyclic garbage collector ran inside it (``gc_s``). The
collector is tuned after start-up as ``aiops run`` tunes it (``controller.runtime``), unless
``--default-gc``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from bench import prom_fleet

MIB = 1024 * 1024


def _status(field: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process in MiB (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    return 0.0


def _settings(url: str, lookback: float, step: float) -> Any:
    from controller.settings import PrometheusSettings, RetrySettings

    return PrometheusSettings(
        url=url,
        queries=prom_fleet.overrides(),
        step=timedelta(seconds=step),
        lookback=timedelta(seconds=lookback),
        timeout=timedelta(minutes=2),
        retry=RetrySettings(attempts=1),
    )


def _window_figures(windows: Mapping[str, Mapping[Any, Any]]) -> dict[str, Any]:
    healths: Counter[str] = Counter()
    longest = total = 0
    for by_signal in windows.values():
        for window in by_signal.values():
            healths[window.health.value] += 1
            longest = max(longest, len(window.message))
            total += len(window.message)
    return {"health": dict(healths), "message_max": longest, "message_bytes": total}


class _CollectorTime:
    """Seconds the cyclic garbage collector ran while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began

    def __enter__(self) -> _CollectorTime:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def _tick(metrics: Any, refs: Sequence[Any], at: float, url: str) -> tuple[Any, dict[str, Any]]:
    from controller.models.base import from_epoch

    asked = prom_fleet.query_count(url)
    cpu, wall = time.process_time(), time.perf_counter()
    with _CollectorTime() as collector:
        try:
            windows, raised = metrics.observe(refs, from_epoch(at)), None
        except Exception as exc:  # reported as a missed target, never hidden
            windows, raised = {}, repr(exc)[:300]
    figures = {
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "gc_s": collector.seconds,
        "queries": prom_fleet.query_count(url) - asked,
        "rss_mib": _status("VmRSS"),
        "raised": raised,
    }
    return windows, figures | _window_figures(windows)


def _fetch_floor(url: str, settings: Any, refs: Sequence[Any], span: Any) -> float:
    """CPU seconds to POST every signal's query over ``span`` and decode the JSON."""
    from controller.observers.queries import fill, placeholder_values, templates

    values = placeholder_values(settings, refs)
    session = requests.Session()
    started = time.process_time()
    for template in templates(settings).values():
        form = {"query": fill(template, values), **span.form()}
        answer = session.post(f"{url}/api/v1/query_range", data=form, timeout=120)
        json.loads(answer.content)
    session.close()
    return time.process_time() - started


def _rebuild_floor(windows: Mapping[str, Mapping[Any, Any]]) -> tuple[float, int]:
    """CPU seconds to construct a SeriesData for every window's data, and the samples."""
    from controller.models.signals import SeriesData

    columns = [(w.data.timestamps, w.data.values) for by in windows.values() for w in by.values()]
    started = time.process_time()
    for times, values in columns:
        SeriesData(times, values)
    return time.process_time() - started, sum(len(t) for t, _ in columns)


def measure(
    url: str,
    present: int,
    absent: int,
    lookback: float,
    step: float,
    ticks: int,
    *,
    tune_gc: bool = True,
) -> dict[str, Any]:
    """Every figure of one run: a first tick, ``ticks`` warm ones, the two floors.

    With ``tune_gc`` the collector is tuned once start-up is done, exactly as ``aiops run``
    does (``controller.runtime.tune_collector``); without, CPython's defaults.
    """
    from controller.models.signals import Signal
    from controller.observers.prometheus import build_prometheus_metrics
    from controller.observers.prometheus_http import QueryRange, aligned
    from controller.runtime import tune_collector, untune_collector

    settings = _settings(url, lookback, step)
    metrics = build_prometheus_metrics(settings, stale_after=timedelta(seconds=90))
    refs = prom_fleet.present(present) + prom_fleet.absent(absent)
    previous = tune_collector() if tune_gc else None
    first_at = prom_fleet.END - ticks * step - step / 2
    rss_start = _status("VmRSS")
    windows: Any = {}
    runs = []
    for index in range(ticks + 1):
        windows, figures = _tick(metrics, refs, first_at + index * step, url)
        runs.append(figures)
    last_at = first_at + ticks * step
    tail = QueryRange(aligned(last_at - 2 * step, step), last_at, step)
    whole = QueryRange(aligned(first_at - lookback, step), first_at, step)
    rebuild_s, samples = _rebuild_floor(windows)
    metrics.close()
    if previous is not None:
        untune_collector(previous)  # in-process runs leave the interpreter as they found it
    return {
        "present": present,
        "absent": absent,
        "watched": len(refs),
        "signals": len(Signal),
        "lookback_s": lookback,
        "step_s": step,
        "rss_start_mib": rss_start,
        "gc_tuned": tune_gc,
        "rss_peak_mib": _status("VmHWM"),
        "ticks": runs,
        "samples": samples,
        "fetch_floor_first_s": _fetch_floor(url, settings, refs, whole),
        "fetch_floor_warm_s": _fetch_floor(url, settings, refs, tail),
        "seriesdata_floor_s": rebuild_s,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure one run and print the figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.prom_child", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--present", type=int, required=True)
    parser.add_argument("--absent", type=int, default=0)
    parser.add_argument("--lookback", type=float, required=True, help="Seconds.")
    parser.add_argument("--step", type=float, required=True, help="Seconds.")
    parser.add_argument("--ticks", type=int, default=3, help="Warm ticks after the first.")
    parser.add_argument(
        "--default-gc", action="store_true", help="CPython's collector settings, untuned."
    )
    args = parser.parse_args(argv)
    from controller.logging import configure_logging
    from controller.settings import LogSettings

    configure_logging(LogSettings())  # warnings only, on stderr: stdout carries the figures
    figures = measure(
        args.url,
        args.present,
        args.absent,
        args.lookback,
        args.step,
        args.ticks,
        tune_gc=not args.default_gc,
    )
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
