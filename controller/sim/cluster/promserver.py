"""A Prometheus that scrapes the simulator: its config, and the server as a child process.

The config scrapes each target every ``interval`` (sub-second is fine: the warm-up moves one
``warmup_step`` of simulated time per scrape) and honours the samples' timestamps, which is
what lets the fast-forwarded history land at the times it simulates. It is written as JSON,
which YAML 1.2 (and Prometheus) reads as is. The process binds 127.0.0.1 on the given port;
every wait is bounded.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

JOB = "aiops-sim"


def _duration(value: timedelta) -> str:
    return f"{max(1, round(value.total_seconds() * 1000))}ms"


def prometheus_config(
    targets: Sequence[str], *, interval: timedelta = timedelta(seconds=1), job: str = JOB
) -> str:
    """A Prometheus config scraping ``targets`` (``host:port``) at ``interval``."""
    scrape = _duration(interval)
    config = {
        "global": {"scrape_interval": scrape, "evaluation_interval": "1h"},
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": scrape,
                "scrape_timeout": scrape,
                "honor_labels": True,
                "honor_timestamps": True,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def write_prometheus_config(
    path: Path, targets: Sequence[str], *, interval: timedelta = timedelta(seconds=1)
) -> Path:
    """Write ``prometheus_config`` to ``path``; returns ``path``."""
    path.write_text(prometheus_config(targets, interval=interval), encoding="utf-8")
    return path


@dataclass
class PrometheusProcess:
    """``prometheus`` over ``root`` (config, data, log), on 127.0.0.1:``port``."""

    binary: str
    root: Path
    port: int
    targets: Sequence[str]
    interval: timedelta = timedelta(seconds=1)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.root / "prometheus.log"

    def start(self, ready_within: float = 20.0) -> PrometheusProcess:
        """Start and wait (bounded) for ``/-/ready``; RuntimeError with the log tail if not."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = write_prometheus_config(
            self.root / "prometheus.json", self.targets, interval=self.interval
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1d",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._get("/-/ready") == 200:
                return self
            time.sleep(0.05)
        tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"prometheus on {self.url} not ready within {ready_within}s:\n{tail}")

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=1) as response:
                return int(response.status)
        except (urllib.error.URLError, OSError):
            return 0

    def stop(self, grace: float = 10.0) -> None:
        """Terminate, then kill if it does not exit within ``grace`` seconds (idempotent)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=grace)

    def __enter__(self) -> PrometheusProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
