"""A closed-loop simulated cluster: workloads that respond to what the controller does.

The workloads' desired state lives in a ``FakeKubeApi`` (``controller.sim.kube_api``): the
controller under test changes it through the real Kubernetes client, the simulator reads it
back every step, and its metrics (kube-state-metrics / cAdvisor / request metrics, served
for the real Prometheus to scrape) and its traces (the real OpenTelemetry SDK, over OTLP)
follow. Used by the operator's end-to-end tests, ``chaos/`` and ``aiops demo``; see
docs/simulator.md.

Modules: ``spec`` (scenario format), ``model`` (pure curves), ``state`` (pods and counters),
``kube`` (the store: seed, read, the HPA controller's and a pipeline's writes), ``cluster``
(the loop), ``exposition`` (prometheus_client rendering), ``endpoint`` (``/metrics``),
``traces`` (spans), ``promserver`` (a Prometheus scraping it), ``runner`` (the cluster,
ticking, with its endpoint and spans), ``stack`` (fake API + runner + Prometheus +
kubeconfig), ``scenarios`` (built-in scenarios).
"""

from __future__ import annotations

from controller.sim.cluster.cluster import ClusterView, SimulatedCluster, WorkloadView
from controller.sim.cluster.promserver import (
    PrometheusProcess,
    prometheus_config,
    write_prometheus_config,
)
from controller.sim.cluster.runner import SimulationRunner
from controller.sim.cluster.spec import (
    BadDeploy,
    CpuSaturation,
    HpaSpec,
    MemoryLeak,
    Scenario,
    TrafficSurge,
    WorkloadSpec,
    load_scenario,
    parse_scenario,
)
from controller.sim.cluster.stack import SimulatedStack, write_kubeconfig

__all__ = [
    "BadDeploy",
    "ClusterView",
    "CpuSaturation",
    "HpaSpec",
    "MemoryLeak",
    "PrometheusProcess",
    "Scenario",
    "SimulatedCluster",
    "SimulatedStack",
    "SimulationRunner",
    "TrafficSurge",
    "WorkloadSpec",
    "WorkloadView",
    "load_scenario",
    "parse_scenario",
    "prometheus_config",
    "write_kubeconfig",
    "write_prometheus_config",
]
