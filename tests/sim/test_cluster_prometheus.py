"""The real Prometheus scrapes the simulator, and PrometheusMetrics reads the model back.

The warm-up fast-forwards 75 s of history in ~15 scrapes (200 ms apart), so the 60 s
``rate()`` windows of the default queries are full after a few seconds of wall time. The
scenario's start is aligned to the observer's step, so every warm-up sample sits on a step
boundary and ``rate()`` needs no extrapolation at the window's start: the values Prometheus
computes are the model's, to float precision.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from kubernetes import client, config

from controller.models.signals import Health, Signal
from controller.models.workloads import WorkloadRef
from controller.observers.prometheus import build_prometheus_metrics
from controller.settings import PrometheusSettings
from controller.sim.cluster import SimulatedStack, WorkloadSpec, model
from controller.sim.cluster.state import BUCKETS
from controller.sim.kube_api.store import utc_now
from tests.adapters.prometheus.servers import require_binary
from tests.sim.helpers import NS, scenario, workload

STEP = 5


def _expected(spec: WorkloadSpec, replicas: int) -> dict[Signal, float]:
    rho = spec.load_rps / (replicas * spec.capacity_rps)
    buckets = [(b, model.latency_cdf(spec, rho, b)) for b in BUCKETS]
    cores = model.pod_cpu_cores(spec, rho, model.Effects())
    return {
        Signal.REQUEST_RATE: spec.load_rps,
        Signal.ERROR_RATIO: spec.error_ratio,
        Signal.LATENCY_P50: model.histogram_quantile(0.5, buckets),
        Signal.LATENCY_P99: model.histogram_quantile(0.99, buckets),
        Signal.CPU_SATURATION: cores / spec.cpu_request_cores,
        Signal.MEMORY_SATURATION: spec.memory_base_bytes / spec.memory_limit_bytes,
        Signal.RESTARTS: 0.0,
        Signal.REPLICAS_AVAILABLE: float(replicas),
    }


def _instant(url: str, promql: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=2) as response:
            result: list[dict[str, Any]] = json.load(response)["data"]["result"]
            return result
    except OSError:
        return []


def _newest_sample(url: str) -> float:
    result = _instant(url, "max(timestamp(kube_deployment_spec_replicas))")
    return float(result[0]["value"][1]) if result else 0.0


def _memory_pods(url: str) -> set[str]:
    found = _instant(url, 'container_memory_working_set_bytes{pod=~"checkout-.*"}')
    return {series["metric"]["pod"] for series in found}


def test_prometheus_scrapes_the_model_and_the_observer_reads_it_back(tmp_path: Path) -> None:
    binary = require_binary("prometheus")
    frontend = workload("frontend", replicas=2, load_rps=60, calls=("checkout",))
    checkout = workload("checkout", replicas=3, load_rps=50, error_ratio=0.02)
    spec = scenario(frontend, checkout, history=timedelta(seconds=75),
                    warmup_step=timedelta(seconds=STEP))  # fmt: skip
    stack = SimulatedStack(spec, tmp_path, prometheus_binary=binary, max_lifetime=60)
    with stack:
        runner, url = stack.runner, stack.prometheus.url
        assert stack.runner.cluster.start.timestamp() % STEP == 0
        live = utc_now().timestamp()
        deadline = time.monotonic() + 10
        while _newest_sample(url) < live + 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
        settings = PrometheusSettings(
            url=url, step=timedelta(seconds=STEP), lookback=timedelta(minutes=2)
        )
        metrics = build_prometheus_metrics(settings, stale_after=timedelta(seconds=30))
        try:
            refs = [WorkloadRef(namespace="shop", name=w.name) for w in (frontend, checkout)]
            windows = metrics.observe(refs, utc_now())
        finally:
            metrics.close()

        # A restart replaces the pods: the old pods' series go stale at the next scrape
        # (live samples carry no timestamp), they do not linger for the 5-minute lookback.
        with runner.cluster.lock:
            old = {p.name for p in runner.cluster.state("shop/checkout").pods}
        assert _memory_pods(url) == old
        stamp = {"kubectl.kubernetes.io/restartedAt": utc_now().isoformat()}
        body = {"spec": {"template": {"metadata": {"annotations": stamp}}}}
        with config.new_client_from_config(str(stack.kubeconfig)) as api_client:
            client.AppsV1Api(api_client).patch_namespaced_deployment("checkout", NS, body)
        deadline = time.monotonic() + 10
        while _memory_pods(url) & old and time.monotonic() < deadline:
            time.sleep(0.1)
        with runner.cluster.lock:
            new = {p.name for p in runner.cluster.state("shop/checkout").pods}
        assert _memory_pods(url) == new and not new & old
        assert runner.errors == [] and runner.metrics.errors == []
        assert stack.api.internal_errors == []

    for ref, workload_spec, replicas in ((refs[0], frontend, 2), (refs[1], checkout, 3)):
        expected = _expected(workload_spec, replicas)
        assert set(windows[ref.key]) == set(Signal)
        for signal, window in windows[ref.key].items():
            assert window.health is Health.OK, (ref.key, signal, window.message)
            latest = window.latest()
            assert latest is not None, (ref.key, signal)
            assert latest[0] % STEP == 0
            value = expected[signal]
            assert math.isclose(latest[1], value, rel_tol=1e-3, abs_tol=1e-9), (
                ref.key, signal, latest[1], value,
            )  # fmt: skip
            assert window.coverage_seconds() >= 60, (ref.key, signal)
