"""The report charts the signal each verification judged, next to the telling signals."""

from __future__ import annotations

from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from controller.replay.chart_series import (
    MAX_CHARTS,
    chart_series,
    verified_signals,
)
from controller.settings import Settings
from tests.replay.conftest import example, replay

PAYMENTS = WorkloadRef(namespace="shop", name="payments")
CHECKOUT = WorkloadRef(namespace="shop", name="checkout")


def keys(charts) -> list[tuple[str, str]]:
    return [(c.workload.key, c.signal.value) for c in charts]


def test_the_verified_signal_is_charted_first_for_its_workload(policy, runbooks) -> None:
    incident = example("crashloop-after-rollout")
    result, _ = replay(incident, policy, runbooks)
    assert [v.signal for v in result.verifications] == [Signal.REPLICAS_AVAILABLE]
    assert verified_signals(result.verifications, result.actions) == (
        (PAYMENTS, Signal.REPLICAS_AVAILABLE),
    )
    unverified = chart_series(incident, result.incidents, Settings().detection)
    assert ("shop/payments", "replicas_available") not in keys(unverified)
    assert keys(result.charts) == [("shop/payments", "replicas_available"), *keys(unverified)]
    first = result.charts[0]
    assert first.unit == "count" and len(first.timestamps) == len(first.values) > 100


def test_verified_series_survive_the_chart_limit(policy, runbooks) -> None:
    incident = example("crashloop-after-rollout")
    result, _ = replay(incident, policy, runbooks)
    verified = (
        (PAYMENTS, Signal.REPLICAS_AVAILABLE),
        (PAYMENTS, Signal.CPU_SATURATION),
        (CHECKOUT, Signal.MEMORY_SATURATION),
    )

    charts = chart_series(incident, result.incidents, Settings().detection, verified=verified)

    assert len(charts) == MAX_CHARTS
    assert {(c.workload, c.signal) for c in charts} >= set(verified)
    assert keys(charts)[:4] == [
        ("shop/payments", "replicas_available"),
        ("shop/payments", "cpu_saturation"),
        ("shop/payments", "restarts"),
        ("shop/payments", "error_ratio"),
    ]


def test_without_verifications_the_choice_is_unchanged(policy, runbooks) -> None:
    incident = example("quiet-day")
    result, _ = replay(incident, policy, runbooks)

    assert result.verifications == ()
    assert result.charts == chart_series(incident, result.incidents, Settings().detection)
