"""The exposition: valid text format, exactly the names and labels the default queries select,
stamped with simulated time; the warm-up's pacing; the HTTP endpoint."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from controller.models.signals import Signal
from controller.observers.queries import fill, preset_templates
from controller.sim.cluster import SimulatedCluster, SimulationRunner, prometheus_config
from controller.sim.cluster.exposition import (
    CONTENT_TYPE,
    QUERIED,
    exposition,
    registry_for,
    scrape_view,
)
from controller.sim.kube_api import FakeKubeApi
from controller.yamlfile import YamlSpec, parse_yaml, require_mapping
from tests.sim.helpers import T0, at, scenario, workload

SELECTOR = re.compile(r"\b([a-z_][a-z0-9_]*)\{([^{}]*)\}")
MATCHER = re.compile(r'([a-z_]+)\s*(=~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _selectors() -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric, [(label, op, value)]) of every selector of the preset's templates."""
    found = []
    values = {"namespace_regex": "shop", "workload_regex": "checkout", "rate_window": "60s"}
    for template in preset_templates("kube-state-metrics").values():
        for metric, body in SELECTOR.findall(fill(template, values)):
            found.append((metric, MATCHER.findall(body)))
    return found


@pytest.fixture
def text(api: FakeKubeApi) -> str:
    spec = workload("checkout", replicas=3, calls=("payments",))
    cluster = SimulatedCluster(api, scenario(spec, workload("payments")), start=T0)
    at(cluster, 30)
    return exposition(registry_for(cluster.view)).decode()


def test_the_names_are_the_ones_the_default_queries_select() -> None:
    assert {metric for metric, _ in _selectors()} == QUERIED


def test_every_selector_of_the_default_preset_matches_a_sample(text: str) -> None:
    samples = _samples(text)
    selectors = _selectors()
    assert len(selectors) >= len(QUERIED)
    for metric, matchers in selectors:
        mine = [s for s in samples if s.name == metric]
        assert mine, metric
        for label, op, value in matchers:
            assert all(label in s.labels for s in mine), (metric, label)
            if op == "=":
                assert any(s.labels[label] == value for s in mine), (metric, label, value)
            if op == "=~":
                assert any(re.fullmatch(value, s.labels[label]) for s in mine), (metric, label)
            if op == "!=":
                assert all(s.labels[label] != value for s in mine), (metric, label, value)


def test_the_grouping_labels_are_there(text: str) -> None:
    by_name: dict[str, set[str]] = {}
    for sample in _samples(text):
        by_name.setdefault(sample.name, set()).update(sample.labels)
    assert {"namespace", "workload", "code"} <= by_name["http_requests_total"]
    assert {"namespace", "workload", "le"} <= by_name["http_request_duration_seconds_bucket"]
    for name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
        assert {"namespace", "pod", "container"} <= by_name[name]
    assert {"namespace", "pod", "owner_name"} <= by_name["kube_pod_owner"]
    assert {"namespace", "replicaset", "owner_name"} <= by_name["kube_replicaset_owner"]
    assert {"namespace", "deployment"} <= by_name["kube_deployment_spec_replicas"]


def test_values_and_timestamps_follow_the_model(text: str) -> None:
    samples = _samples(text)
    assert {s.timestamp for s in samples} == {(T0 + timedelta(seconds=30)).timestamp()}

    def value(name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    total = value("http_requests_total", workload="checkout")
    assert total == pytest.approx(50 * 30)
    assert value("http_requests_total", workload="checkout", code="500") == pytest.approx(1.5)
    count = value("http_request_duration_seconds_count", workload="checkout")
    assert count == pytest.approx(total)
    inf = value("http_request_duration_seconds_bucket", workload="checkout", le="+Inf")
    assert inf == count
    assert value("kube_deployment_status_replicas_available", deployment="checkout") == 3
    owners = [
        s for s in samples if s.name == "kube_pod_owner" and s.labels["pod"].startswith("checkout-")
    ]
    assert len(owners) == 3


def test_a_scrape_fast_forwards_the_warm_up_one_step_at_a_time(api: FakeKubeApi) -> None:
    spec = scenario(workload("checkout"), history=timedelta(seconds=20))
    cluster = SimulatedCluster(api, spec, start=T0)
    wall = T0 + timedelta(seconds=2)
    view = scrape_view(cluster, lambda: wall)
    views = [view() for _ in range(6)]
    step = timedelta(seconds=5)
    assert [v.at for v in views] == [T0 - 3 * step, T0 - 2 * step, T0 - step, T0, wall, wall]
    assert [v.stamped for v in views] == [True] * 4 + [False] * 2  # live: Prometheus stamps
    live = _samples(exposition(registry_for(lambda: views[-1])).decode())
    assert live and {s.timestamp for s in live} == {None}
    assert cluster.advance_live(wall) is False  # already there


def test_a_live_tick_waits_for_the_warm_up(api: FakeKubeApi) -> None:
    cluster = SimulatedCluster(api, scenario(workload("checkout"), history=timedelta(seconds=60)),
                               start=T0)  # fmt: skip
    assert cluster.advance_live(T0) is False
    assert cluster.now == T0 - timedelta(seconds=60)


def test_the_endpoint_serves_the_text_format(api: FakeKubeApi) -> None:
    runner = SimulationRunner(api, scenario(workload("checkout")), tick=0.05, max_lifetime=30)
    with runner:
        with urllib.request.urlopen(runner.metrics.url, timeout=5) as response:
            body = response.read().decode()
            assert response.headers["Content-Type"] == CONTENT_TYPE
        with urllib.request.urlopen(runner.metrics.url.replace("/metrics", "/healthz"),
                                    timeout=5) as health:  # fmt: skip
            assert health.status == 200
    assert runner.metrics.target.startswith("127.0.0.1:")
    assert {f.name for f in text_string_to_metric_families(body)} >= {
        "http_requests", "kube_deployment_status_replicas_available"}  # fmt: skip
    assert runner.metrics.scrapes == 1 and runner.metrics.errors == [] and runner.errors == []


def test_queries_cover_every_signal() -> None:
    """A new signal in queries.py must get a simulated metric (this test then fails)."""
    assert set(preset_templates("kube-state-metrics")) == set(Signal)


def test_the_prometheus_config_scrapes_the_targets_often_and_honours_timestamps() -> None:
    text = prometheus_config(["127.0.0.1:9999"], interval=timedelta(milliseconds=200))
    document = parse_yaml(text, "prometheus.json", YamlSpec(what="prometheus config"))
    (job,) = require_mapping(document, "prometheus.json", YamlSpec(what="x"))["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9999"]}]
    assert (job["scrape_interval"], job["scrape_timeout"]) == ("200ms", "200ms")
    assert job["honor_timestamps"] is True and job["honor_labels"] is True
