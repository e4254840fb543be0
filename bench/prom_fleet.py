"""A synthetic fleet in a real Prometheus on 127.0.0.1, for ``python -m bench.prometheus``.

N workloads (``ns-000/svc-00000`` ...), one gauge each, ``aiops_bench{namespace, workload}``,
sampled every ``step`` over ``lookback`` plus the benchmark's ticks, written as OpenMetrics
text and backfilled with ``promtool tsdb create-blocks-from openmetrics`` (the fastest way
to hold hours of history: no scrape has to wait for it). Blocks are cached in the work
directory by (N, span, step), on a fixed time axis (they are never stale: Prometheus keeps
blocks relative to the newest one).

The observer's per-signal ``queries`` overrides read that gauge (times a factor per signal),
so each answer holds N series over the whole range, exactly the shape and size the built-in
templates give; what differs is only the PromQL work inside Prometheus, which is not the
observer's cost. The templates carry both regex placeholders, so every query's text holds the
whole watched set, as in production.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef

METRIC = "aiops_bench"
END = 1_767_225_600
"""2026-01-01T00:00:00Z: the fixed end of every generated history."""
PER_NAMESPACE = 100
FACTORS = {signal: 1.0 + index / 10 for index, signal in enumerate(Signal)}
CONFIG = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n"


def present(count: int) -> list[WorkloadRef]:
    """The first ``count`` workloads that have series."""
    return [
        WorkloadRef(namespace=f"ns-{i // PER_NAMESPACE:03d}", name=f"svc-{i:05d}")
        for i in range(count)
    ]


def absent(count: int) -> list[WorkloadRef]:
    """``count`` workloads without any series, in the same namespaces."""
    return [
        WorkloadRef(namespace=f"ns-{i // PER_NAMESPACE:03d}", name=f"gone-{i:05d}")
        for i in range(count)
    ]


def overrides() -> dict[str, str]:
    """One template per signal over the benchmark gauge (both placeholders, as built-ins)."""
    selector = f'{METRIC}{{namespace=~"${{namespace_regex}}", workload=~"${{workload_regex}}"}}'
    return {signal.value: f"{selector} * {factor:g}" for signal, factor in FACTORS.items()}


def _lines(workloads: int, start: int, step: int) -> Iterator[str]:
    yield f"# TYPE {METRIC} gauge"
    times = range(start, END + 1, step)
    for index, ref in enumerate(present(workloads)):
        labels = f'{METRIC}{{namespace="{ref.namespace}",workload="{ref.name}"}}'
        base = index % 97
        yield "\n".join(f"{labels} {base + (t // step) % 10 / 10:g} {t}" for t in times)
    yield "# EOF"


def blocks(promtool: str, workdir: Path, workloads: int, span: int, step: int) -> Path:
    """TSDB blocks of ``workloads`` gauges over [END - span, END], cached in ``workdir``."""
    out = workdir / f"blocks-{workloads}w-{span}s-{step}s"
    if (out / "done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"fleet-{workloads}w.om"
    with source.open("w", encoding="utf-8") as text:
        for chunk in _lines(workloads, END - span // step * step, step):
            text.write(chunk + "\n")
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(out)],
        check=True,
        capture_output=True,
        timeout=3600,
    )
    source.unlink()
    (out / "done").write_text("ok\n")
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A ``prometheus`` process over a private copy of some blocks, on 127.0.0.1."""

    binary: str
    blocks: Path
    root: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.root = Path(tempfile.mkdtemp(prefix="aiops-bench-prom-"))
        data = self.root / "data"
        shutil.copytree(self.blocks, data, ignore=shutil.ignore_patterns("done"))
        (self.root / "prometheus.yml").write_text(CONFIG, encoding="utf-8")
        self.port = _free_port()
        with (self.root / "log.txt").open("wb") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.root / 'prometheus.yml'}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=36500d",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(60.0)
        return self

    def _wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self.process and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"prometheus on {self.url} not ready within {within:g}s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def query_count(url: str) -> int:
    """Range queries this Prometheus has answered so far (its own request counter)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode("utf-8")
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and (
            'handler="/api/v1/query_range"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)
