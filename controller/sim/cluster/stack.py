"""``SimulatedStack``: everything ``aiops run`` needs to act on a cluster that is not there.

The fake Kubernetes API (with its deployment controller), the simulated cluster playing a
scenario, a real Prometheus scraping it, and a kubeconfig pointing at the fake: what
``aiops demo`` starts, and what an end-to-end test starts around an ``aiops run``
subprocess. The scenario's start is aligned to its ``warmup_step``, so with an observer
step equal to it every warm-up sample falls on a step boundary (see docs/simulator.md).
All of it binds 127.0.0.1 and stops after ``max_lifetime`` seconds at the latest.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from controller.sim.cluster.promserver import PrometheusProcess
from controller.sim.cluster.runner import SimulationRunner
from controller.sim.cluster.spec import Scenario
from controller.sim.kube_api.server import FakeKubeApi
from controller.sim.kube_api.store import utc_now


def free_port() -> int:
    """A currently unused loopback port (for Prometheus, which cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig for the fake: plain HTTP on 127.0.0.1, no credentials (JSON is YAML)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "aiops-sim", "cluster": {"server": server}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "aiops-sim", "context": {"cluster": "aiops-sim", "user": "nobody"}}],
        "current-context": "aiops-sim",
    }
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def aligned_start(now: datetime, step: timedelta) -> datetime:
    """``now`` rounded down to a multiple of ``step`` since the epoch."""
    seconds = step.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, tz=now.tzinfo)


class SimulatedStack:
    """Fake API + simulated cluster + Prometheus + kubeconfig, started and stopped together."""

    def __init__(
        self,
        scenario: Scenario,
        root: Path,
        *,
        prometheus_binary: str | None = None,
        scrape_interval: timedelta = timedelta(milliseconds=200),
        otlp_endpoint: str | None = None,
        trace_sample_ratio: float = 0.05,
        clock: Callable[[], datetime] = utc_now,
        max_lifetime: float = 600.0,
    ) -> None:
        binary = prometheus_binary or shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("prometheus is not installed (scripts/test.sh installs it)")
        self.root = root
        self.api = FakeKubeApi(deployment_controller=True, clock=clock, max_lifetime=max_lifetime)
        self.runner = SimulationRunner(
            self.api,
            scenario,
            clock=clock,
            start=aligned_start(clock(), scenario.warmup_step),
            otlp_endpoint=otlp_endpoint,
            trace_sample_ratio=trace_sample_ratio,
            max_lifetime=max_lifetime,
        )
        self.prometheus = PrometheusProcess(
            binary, root / "prometheus", free_port(), [self.runner.metrics.target],
            interval=scrape_interval,
        )  # fmt: skip
        self.kubeconfig = root / "kubeconfig.json"

    def start(self, ready_within: float = 30.0) -> SimulatedStack:
        """Start everything; return once Prometheus holds the warm-up history.

        RuntimeError (everything stopped again) when that takes over ``ready_within`` s."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.api.start()
            write_kubeconfig(self.kubeconfig, self.api.url)
            self.runner.start()
            self.prometheus.start(ready_within)
            if not self.runner.wait_live(ready_within):
                raise RuntimeError(f"the warm-up did not catch up within {ready_within}s")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop Prometheus, the simulator and the fake (idempotent)."""
        self.prometheus.stop()
        self.runner.stop()
        self.api.stop()

    def __enter__(self) -> SimulatedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
