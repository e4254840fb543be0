"""The pure model and the scenario format."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from controller.errors import InputError
from controller.sim.cluster import (
    BadDeploy,
    CpuSaturation,
    MemoryLeak,
    TrafficSurge,
    load_scenario,
    model,
    parse_scenario,
)
from controller.sim.cluster.scenarios import FAULTS, builtin
from controller.sim.cluster.state import BUCKETS
from tests.sim.helpers import workload

SPEC = workload("checkout", capacity_rps=40, cpu_limit_cores=1.0)

SCENARIO = """\
name: bad-deploy
history: 90s
workloads:
  - namespace: shop
    name: frontend
    image: shop/frontend:1.0
    calls: [checkout]
  - namespace: shop
    name: checkout
    image: shop/checkout:1.0
    hpa: {min_replicas: 2, max_replicas: 6}
faults:
  - {kind: bad_deploy, at: 30s, workload: shop/checkout, image: shop/checkout:1.1}
  - {kind: traffic_surge, at: 1m, until: 2m, workload: shop/frontend, factor: 2.5}
  - {kind: memory_leak, at: 0, workload: shop/checkout, bytes_per_second: 1048576}
  - {kind: cpu_saturation, at: 10s, workload: shop/frontend, cores: 0.5}
"""


def test_latency_grows_with_utilisation_and_explodes_near_saturation() -> None:
    p99 = [model.latency_quantile(SPEC, rho, 0.99) for rho in (0.1, 0.5, 0.9, 1.0)]
    assert p99 == sorted(p99)
    assert p99[-1] > 10 * p99[0]
    assert model.latency_quantile(SPEC, 0.0, 0.5) > SPEC.base_latency_seconds


def test_the_cdf_and_the_quantile_agree() -> None:
    for rho in (0.2, 0.75, 0.97):
        for q in (0.5, 0.9, 0.99):
            seconds = model.latency_quantile(SPEC, rho, q)
            assert model.latency_cdf(SPEC, rho, seconds) == pytest.approx(q)


def test_histogram_quantile_of_model_buckets_lands_in_the_true_quantiles_bucket() -> None:
    buckets = [(b, 1000 * model.latency_cdf(SPEC, 0.5, b)) for b in BUCKETS]
    for q in (0.5, 0.9, 0.99):
        exact = model.latency_quantile(SPEC, 0.5, q)
        upper = min(b for b in BUCKETS if b >= exact)
        lower = max((b for b in BUCKETS if b < exact), default=0.0)
        assert lower <= model.histogram_quantile(q, buckets) <= upper, q
    assert math.isnan(model.histogram_quantile(0.5, [(math.inf, 0.0)]))


def test_traffic_sheds_what_capacity_cannot_serve() -> None:
    assert model.traffic(100, 2, 40) == model.Traffic(100, 80, 20, 1.0, 40)
    assert model.traffic(40, 2, 40).utilisation == 0.5
    assert model.traffic(10, 0, 40).shed == 10


def test_faults_take_effect_in_their_window_only() -> None:
    faults = (
        TrafficSurge(at=10, until=20, workload=SPEC.key, factor=3),
        CpuSaturation(at=5, workload=SPEC.key, cores=0.5),
        MemoryLeak(at=0, workload=SPEC.key, bytes_per_second=10, image="shop/checkout:2.0"),
        TrafficSurge(at=0, workload="shop/other", factor=9),
    )
    assert model.effects_at(faults, SPEC.key, 9).load_factor == 1.0
    assert model.effects_at(faults, SPEC.key, 10).load_factor == 3.0
    assert model.effects_at(faults, SPEC.key, 20).load_factor == 1.0
    effects = model.effects_at(faults, SPEC.key, 30)
    assert model.replica_capacity(SPEC, effects) == pytest.approx(20)
    assert model.pod_cpu_cores(SPEC, 1.0, effects) == SPEC.cpu_limit_cores
    assert model.leaked_bytes(effects.leaks, "shop/checkout:1.0", 0, 30) == 0
    assert model.leaked_bytes(effects.leaks, "shop/checkout:2.0", 12, 30) == 180


def test_a_bad_deploys_image_is_bad_at_any_time() -> None:
    bad = BadDeploy(at=100, workload=SPEC.key, image="shop/checkout:2.0", error_ratio=0.25)
    assert model.image_error_ratio(SPEC, (bad,), "shop/checkout:2.0") == 0.25
    assert model.image_error_ratio(SPEC, (bad,), SPEC.image) == SPEC.error_ratio


def test_a_scenario_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.history == timedelta(seconds=90)
    assert [f.kind for f in scenario.faults] == [
        "bad_deploy", "traffic_surge", "memory_leak", "cpu_saturation"]  # fmt: skip
    surge = scenario.faults[1]
    assert isinstance(surge, TrafficSurge) and surge.until == timedelta(minutes=2)
    assert scenario.workload("shop/checkout").hpa is not None


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        (
            ("workload: shop/frontend, factor", "workload: shop/nope, factor"),
            "",
            "unknown workload",
        ),
        (("factor: 2.5", "factor: 2.5, speed: 3"), "faults[1]", "Extra inputs"),
        (("kind: cpu_saturation", "kind: meteor"), "faults[3]", "does not match"),
        (("calls: [checkout]", "calls: [cart]"), "", "calls unknown workload cart"),
    ],
)
def test_a_bad_scenario_names_the_place_and_the_reason(
    change: tuple[str, str], where: str, reason: str
) -> None:
    text = SCENARIO.replace(*change)
    assert text != SCENARIO
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "demo.yaml")
    assert where in caught.value.location and reason in caught.value.reason
    assert str(caught.value.source) == "demo.yaml"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_every_builtin_scenario_parses(name: str) -> None:
    scenario = builtin(name)
    assert scenario.name == name
    assert [w.name for w in scenario.workloads] == ["frontend", "checkout", "payments"]
    assert len(scenario.faults) == (0 if name == "healthy" else 1)


def test_an_unknown_builtin_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="bad-deploy"):
        builtin("meteor")
