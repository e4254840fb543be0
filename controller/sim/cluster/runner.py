"""``SimulationRunner``: a simulated cluster that runs by itself, for e2e tests and the demo.

It owns the ``SimulatedCluster`` (over a FakeKubeApi the caller started), the ``/metrics``
endpoint, and optionally the span emitter; a daemon thread ticks every ``tick`` seconds of
the injected clock's time: it moves the cluster up to the clock once the warm-up is done
(scrapes drive the warm-up, see ``cluster``) and emits the traces of the time it moved.
Everything stops after ``max_lifetime`` seconds at the latest. Usage::

    with FakeKubeApi(deployment_controller=True) as api, \\
            SimulationRunner(api, load_scenario(path), otlp_endpoint=url) as sim:
        write_prometheus_config(config_path, [sim.metrics.target], interval=...)
        ...  # run the controller against api.url and Prometheus
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from controller.sim.cluster.cluster import SimulatedCluster
from controller.sim.cluster.endpoint import MetricsServer
from controller.sim.cluster.exposition import CONTENT_TYPE, exposition, registry_for, scrape_view
from controller.sim.cluster.spec import Scenario
from controller.sim.cluster.traces import SpanEmitter
from controller.sim.kube_api.server import FakeKubeApi
from controller.sim.kube_api.store import utc_now


class SimulationRunner:
    """The cluster, its metrics endpoint, its spans and the thread that moves time."""

    def __init__(
        self,
        api: FakeKubeApi,
        scenario: Scenario,
        *,
        clock: Callable[[], datetime] = utc_now,
        start: datetime | None = None,
        tick: float = 0.25,
        metrics_port: int = 0,
        otlp_endpoint: str | None = None,
        trace_sample_ratio: float = 0.05,
        stamp_live: bool = False,
        max_lifetime: float = 600.0,
    ) -> None:
        self.clock = clock
        self.tick = tick
        self.cluster = SimulatedCluster(api, scenario, start=start or clock())
        self.registry = registry_for(scrape_view(self.cluster, clock, stamp_live=stamp_live))
        self.metrics = MetricsServer(
            lambda: exposition(self.registry),
            CONTENT_TYPE,
            port=metrics_port,
            max_lifetime=max_lifetime,
        )
        self.spans = (
            SpanEmitter(otlp_endpoint, sample_ratio=trace_sample_ratio, seed=scenario.seed)
            if otlp_endpoint
            else None
        )
        self.errors: list[str] = []
        """Exceptions of the ticking thread (a bug of the simulator); tests expect none."""
        self.max_lifetime = max_lifetime
        self._stop = threading.Event()
        self._live = threading.Event()
        self._traced_until: datetime | None = None
        self._thread = threading.Thread(target=self._run, name="aiops-sim", daemon=True)

    # ----- lifetime -----

    def start(self) -> SimulationRunner:
        """Serve ``/metrics`` and start ticking."""
        self.metrics.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop ticking, serving and exporting (idempotent); queued spans are flushed."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5)
        self.metrics.stop()
        if self.spans is not None:
            self.spans.shutdown()

    def __enter__(self) -> SimulationRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_live(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the warm-up caught up with the clock."""
        return self._live.wait(timeout)

    # ----- the ticking thread -----

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_lifetime  # real time: the clock may be a fake
        while not self._stop.wait(self.tick):
            if time.monotonic() > deadline:
                return
            try:
                self._tick(self.clock())
            except Exception as exc:  # kept for the test to see; the thread goes on
                self.errors.append(repr(exc))

    def _tick(self, wall: datetime) -> None:
        cluster = self.cluster
        with cluster.lock:
            cluster.advance_live(wall)
            if cluster.warming_up(wall):
                return
            self._live.set()
            view = cluster.view()
        since, self._traced_until = self._traced_until or view.at, view.at
        if self.spans is not None and view.at > since:  # scrapes may have moved time too
            self.spans.emit(view, (view.at - since).total_seconds())
