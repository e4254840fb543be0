"""PrometheusMetrics against the real Prometheus holding the recording: values, batching,
incremental fetches, staleness, NaN gaps and a fleet-wide unit change."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from controller.detection.inputs import problem
from controller.models.base import epoch, from_epoch
from controller.models.signals import Health, Signal, SignalWindow
from controller.observers.prometheus import PrometheusMetrics
from controller.observers.queries import PRESETS
from tests.adapters.prometheus.helpers import STALE_AFTER, observer, query_name
from tests.adapters.prometheus.recording import (
    BY_KEY,
    RATE_WINDOW,
    STEP,
    TRUTHS,
    UNIT_METRIC,
    WATCHED,
    Recording,
)
from tests.adapters.prometheus.servers import PrometheusServer, RecordingProxy

REFS = [truth.ref for truth in WATCHED]
RATED = {
    Signal.REQUEST_RATE,
    Signal.ERROR_RATIO,
    Signal.LATENCY_P50,
    Signal.LATENCY_P99,
    Signal.CPU_SATURATION,
}


def everything(window: SignalWindow) -> dict[float, float]:
    return dict(window.points(math.inf))


def assert_matches_truth(
    window: SignalWindow, expected: dict[float, float], recording: Recording
) -> None:
    """Every expected step is there with its value; extra steps only where rate() warms up."""
    got = everything(window)
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{window.workload} {window.signal}: missing {missing[:3]}"
    for at, value in expected.items():
        assert got[at] == pytest.approx(value, rel=1e-9, abs=1e-12), (window.signal, at)
    extra = set(got) - set(expected)
    assert all(at < recording.start + RATE_WINDOW for at in extra), sorted(extra)[:3]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_signal_reads_the_recorded_truth(
    prometheus: PrometheusServer, recording: Recording, now: datetime, preset: str
) -> None:
    windows = observer(prometheus.url, preset=preset).observe(REFS, now)
    assert set(windows) == {truth.key for truth in WATCHED}  # decoys are never reported
    for truth in WATCHED:
        assert set(windows[truth.key]) == set(Signal)
        for signal, window in windows[truth.key].items():
            assert window.health is Health.OK, window.message
            assert window.source == f"prometheus:{signal.value}"
            assert window.observed_at == epoch(now)
            assert_matches_truth(window, recording.expected(truth, signal), recording)


def test_one_query_per_signal_per_tick_whatever_the_fleet_size(
    proxy: RecordingProxy, now: datetime
) -> None:
    for refs in (REFS[:1], REFS, REFS[1:]):
        proxy.reset()
        metrics = observer(proxy.url)
        metrics.observe(refs, now)
        metrics.observe(refs, now + timedelta(seconds=STEP))
        assert len(proxy.queries()) == 2 * len(Signal), [r.key for r in refs]
    sent = [seen.param("query") for seen in proxy.queries()[: len(Signal)]]
    assert all('"api|cart"' in q or '"shop"' in q for q in sent)


def test_later_ticks_fetch_only_the_tail_and_agree_with_a_full_backfill(
    proxy: RecordingProxy, recording: Recording
) -> None:
    first, second = recording.end - 600, recording.end - 570
    metrics = observer(proxy.url)
    metrics.observe(REFS, from_epoch(first))
    metrics.observe(REFS, from_epoch(second))
    starts = [float(seen.param("start")) for seen in proxy.queries()]
    assert starts[: len(Signal)] == [first - 3 * 3600] * len(Signal)
    assert starts[len(Signal) :] == [first - STEP] * len(Signal)

    incremental = metrics.observe(REFS, from_epoch(second + STEP))
    fresh = observer(proxy.url).observe(REFS, from_epoch(second + STEP))
    for key, by_signal in fresh.items():
        for signal, window in by_signal.items():
            assert everything(incremental[key][signal]) == pytest.approx(everything(window))


def test_a_new_workload_is_backfilled(proxy: RecordingProxy, now: datetime) -> None:
    metrics = observer(proxy.url)
    metrics.observe(REFS[:1], now - timedelta(seconds=STEP))
    proxy.reset()
    windows = metrics.observe(REFS, now)
    assert {float(seen.param("start")) for seen in proxy.queries()} == {epoch(now) - 3 * 3600}
    newcomer = windows[REFS[2].key][Signal.RESTARTS]
    assert newcomer.coverage_seconds() == pytest.approx(3 * 3600)


def test_a_series_that_stops_turns_stale_then_no_data(
    prometheus: PrometheusServer, recording: Recording, now: datetime
) -> None:
    metrics = observer(prometheus.url)
    stopped = metrics.observe(REFS, now)["pay/api"][Signal.REPLICAS_AVAILABLE]
    latest = stopped.latest()
    assert latest is not None
    assert recording.stop <= latest[0] <= recording.stop + 300  # PromQL's 5-min lookback
    assert stopped.health is Health.OK
    reason = problem(stopped, STALE_AFTER.total_seconds())
    assert reason is not None and "newest sample" in reason

    later = metrics.observe(REFS, now + timedelta(seconds=STEP))
    window = later["pay/api"][Signal.REPLICAS_AVAILABLE]
    assert window.health is Health.NO_DATA
    assert "returned no series for pay/api" in window.message
    text = metrics.query_text(query_name(window.message))
    assert text is not None and "kube_deployment_status_replicas_available" in text
    assert later["shop/web"][Signal.REPLICAS_AVAILABLE].health is Health.OK


def test_nan_and_infinite_samples_become_gaps_never_zero(
    prometheus: PrometheusServer, recording: Recording, now: datetime
) -> None:
    window = observer(prometheus.url).observe(REFS, now)["shop/cart"][Signal.REPLICAS_AVAILABLE]
    got = everything(window)
    truth = BY_KEY["shop/cart"]
    poisoned = [t for t in recording.times if not math.isfinite(recording.replicas(truth, t) or 0)]
    assert len(poisoned) == 4
    assert all(float(t) not in got for t in poisoned)
    assert all(float(t - STEP) in got and float(t + STEP) in got for t in poisoned)
    assert all(math.isfinite(v) and v > 0 for v in got.values())


def unit_override() -> dict[str, str]:
    query = (
        f'max by (namespace, workload) ({UNIT_METRIC}{{namespace=~"${{namespace_regex}}", '
        'workload=~"${workload_regex}"})'
    )
    return {"latency_p99": query}


def test_a_fleet_wide_unit_change_is_reported_as_is(
    prometheus: PrometheusServer, recording: Recording, now: datetime
) -> None:
    metrics = observer(prometheus.url, queries=unit_override())
    windows = metrics.observe(REFS, now)
    switch = float(recording.unit_switch)
    for truth in WATCHED:
        index = TRUTHS.index(truth)
        got = everything(windows[truth.key][Signal.LATENCY_P99])
        before, after = got[switch - STEP], got[switch]
        assert before == pytest.approx(recording.unit_value(index, int(switch) - STEP))
        assert after == pytest.approx(before * 1000)
    raw = metrics.latest_raw(Signal.LATENCY_P99)
    assert set(raw) == {truth.key for truth in WATCHED}
    for key, (at, value) in raw.items():
        assert at == epoch(now)
        assert value == pytest.approx(
            recording.unit_value(TRUTHS.index(BY_KEY[key]), recording.end)
        )


def test_no_workloads_means_no_query(proxy: RecordingProxy, now: datetime) -> None:
    assert observer(proxy.url).observe([], now) == {}
    assert proxy.queries() == []


def test_health_follows_the_last_full_tick(prometheus: PrometheusServer, now: datetime) -> None:
    metrics: PrometheusMetrics = observer(prometheus.url)
    before = metrics.health(now)
    assert (before.ok, before.last_success) == (False, None)
    assert "no successful tick yet" in before.detail
    metrics.observe(REFS, now)
    assert metrics.health(now + STALE_AFTER).ok
    late = metrics.health(now + STALE_AFTER + timedelta(seconds=1))
    assert late.source == "prometheus"
    assert (late.ok, late.last_success) == (False, now)


def test_fetch_range_returns_whole_series_in_chunks(
    proxy: RecordingProxy, recording: Recording
) -> None:
    start, end = from_epoch(recording.start), from_epoch(recording.end)
    step = timedelta(seconds=STEP)
    series = observer(proxy.url).fetch_range(REFS, start, end, step, max_points=100)
    assert len(proxy.queries()) == 4 * len(Signal)  # 361 steps in chunks of at most 100
    for truth in WATCHED:
        for signal in (Signal.MEMORY_SATURATION, Signal.RESTARTS, Signal.CPU_SATURATION):
            got = dict(series[(truth.key, signal)])
            expected = recording.expected(truth, signal)
            assert {t: got[t] for t in expected} == pytest.approx(expected)
    memory = [t for t, _ in series[("shop/web", Signal.MEMORY_SATURATION)]]
    assert memory == [float(t) for t in recording.times]  # no gap, no overlap between chunks
    assert not any(key[0] == "pay/web" for key in series)


REPLICAS = (
    'label_replace(kube_deployment_status_replicas_available{namespace=~"${namespace_regex}", '
    'deployment=~"${workload_regex}"}, "workload", "$1", "deployment", "(.*)")'
)


@pytest.mark.parametrize(
    ("template", "health", "message"),
    [
        pytest.param(
            'label_replace(kube_pod_owner{namespace=~"${namespace_regex}", '
            'owner_kind="ReplicaSet"}, "workload", "$1", "owner_name", "(.*)-7d9f5")',
            Health.ERROR,
            "returned 2 series for shop/web",
            id="extra-label-not-summed",
        ),
        pytest.param(
            f"NaN * sum by (namespace, workload) ({REPLICAS})",
            Health.NO_DATA,
            "returned only NaN/Inf samples (361) for shop/web",
            id="only-nan",
        ),
        pytest.param(
            f"sum by (namespace, workload) ({REPLICAS}) > 1000",
            Health.NO_DATA,
            "returned no series for shop/web",
            id="empty",
        ),
    ],
)
def test_a_template_answer_that_cannot_be_trusted_is_not_ok(
    prometheus: PrometheusServer, now: datetime, template: str, health: Health, message: str
) -> None:
    windows = observer(prometheus.url, queries={"restarts": template}).observe(REFS, now)
    window = windows["shop/web"][Signal.RESTARTS]
    assert window.health is health
    assert message in window.message
    assert windows["shop/web"][Signal.REPLICAS_AVAILABLE].health is Health.OK
