"""Prometheus going away, slow, throttling or rejecting a query: results stay data (CH-07)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import pytest

from controller.models.signals import Health, Signal, SignalWindow
from controller.observers.queries import render_query
from controller.resilience import BreakerState
from controller.settings import BreakerSettings, RetrySettings
from tests.adapters.prometheus.helpers import (
    STALE_AFTER,
    FakeClock,
    RecordingSleep,
    observer,
    prom_settings,
    query_name,
    state_of,
)
from tests.adapters.prometheus.recording import STEP, WATCHED, Recording
from tests.adapters.prometheus.servers import Fault, PrometheusServer, RecordingProxy

REFS = [truth.ref for truth in WATCHED]
SIGNALS = list(Signal)
FIRST = SIGNALS[0]


def healths(windows: Mapping[str, Mapping[Signal, SignalWindow]]) -> set[Health]:
    return {w.health for by_signal in windows.values() for w in by_signal.values()}


def test_killed_prometheus_errors_opens_the_breaker_and_recovers_through_a_probe(
    start_server: Callable[[], PrometheusServer], recording: Recording, now: datetime
) -> None:
    server = start_server()
    clock, sleep = FakeClock(), RecordingSleep()
    metrics = observer(server.url, clock=clock, sleep=sleep)
    assert healths(metrics.observe(REFS, now)) == {Health.OK}

    server.kill()
    down = now + timedelta(seconds=STEP)
    windows = metrics.observe(REFS, down)
    assert healths(windows) == {Health.ERROR}
    query = render_query(FIRST, prom_settings(server.url), REFS)
    first = windows["shop/web"][FIRST].message
    name = query_name(first)
    assert first.startswith(f"query {name} over ") and metrics.query_text(name) == query
    assert "connection failed" in first and "Connection refused" in first
    assert down.isoformat() in first
    assert state_of(metrics.breaker) is BreakerState.OPEN  # after failures=3 signals
    assert len(sleep.calls) == 3  # one retry each (attempts=2), then the breaker
    skipped = [windows["pay/api"][s].message for s in SIGNALS[3:]]
    assert all(m.startswith("circuit open after 3 consecutive failures") for m in skipped)
    assert all(windows["pay/api"][s].data.timestamps for s in SIGNALS)  # history is kept

    blind = metrics.health(down + STALE_AFTER)
    assert not blind.ok
    assert "circuit open" in blind.detail and name in blind.detail

    clock.advance(10)  # still open: nothing is sent, nothing is slept
    assert healths(metrics.observe(REFS, down + timedelta(seconds=10))) == {Health.ERROR}
    assert len(sleep.calls) == 3

    server.start()  # same data directory, same port
    clock.advance(20)  # reset_after elapsed: the next query is the half-open probe
    back = down + timedelta(seconds=60)
    recovered = metrics.observe(REFS, back)
    stopped = recovered["pay/api"][Signal.REPLICAS_AVAILABLE]  # the recording stops it
    assert stopped.health is Health.NO_DATA
    others = {w.health for by in recovered.values() for w in by.values() if w is not stopped}
    assert others == {Health.OK}
    assert state_of(metrics.breaker) is BreakerState.CLOSED
    health = metrics.health(back)
    assert health.ok and health.last_success == back
    restarts = dict(recovered["shop/web"][Signal.RESTARTS].points(3600))
    expected = recording.expected(WATCHED[0], Signal.RESTARTS)
    assert restarts and all(expected[t] == v for t, v in restarts.items() if t in expected)


def test_a_slow_prometheus_times_out_within_the_budget(
    proxy: RecordingProxy, now: datetime
) -> None:
    proxy.delay = 3.0
    metrics = observer(
        proxy.url,
        timeout=timedelta(seconds=0.3),
        retry=RetrySettings(attempts=2, initial_backoff=0, max_backoff=0),
        breaker=BreakerSettings(failures=2, reset_after=timedelta(minutes=1)),
    )
    began = time.monotonic()
    windows = metrics.observe(REFS, now)
    elapsed = time.monotonic() - began
    assert 2 * 2 * 0.3 <= elapsed < 2 * 2 * 0.3 + 1.5  # two signals x two attempts x timeout
    assert len(proxy.queries()) == 4
    assert healths(windows) == {Health.ERROR}
    for signal in SIGNALS[:2]:
        assert "timed out after 0.3s" in windows["shop/web"][signal].message
    assert "circuit open" in windows["shop/web"][SIGNALS[2]].message


@pytest.mark.parametrize(
    ("faults", "sent", "sleeps", "health", "message"),
    [
        pytest.param([Fault(503, {"Retry-After": "2"})], 9, (2.0, 2.0), Health.OK, "", id="503-ra"),
        pytest.param([Fault(500, body=b"boom")], 9, (0.01, 0.04), Health.OK, "", id="500"),
        pytest.param(
            [Fault(429, {"Retry-After": "120"}, b"slow down")],
            8,
            None,
            Health.ERROR,
            "HTTP 429: slow down (Retry-After 120s)",
            id="429-too-long",
        ),
        pytest.param(
            [Fault(503, body=b"overloaded"), Fault(503, body=b"still overloaded")],
            9,
            (0.01, 0.04),
            Health.ERROR,
            "HTTP 503: still overloaded",
            id="503-exhausted",
        ),
    ],
)
def test_throttling_and_server_errors_use_the_one_retry_layer(
    proxy: RecordingProxy,
    now: datetime,
    faults: list[Fault],
    sent: int,
    sleeps: tuple[float, float] | None,
    health: Health,
    message: str,
) -> None:
    proxy.faults.extend(faults)
    sleep = RecordingSleep()
    windows = observer(proxy.url, sleep=sleep).observe(REFS, now)
    assert len(proxy.queries()) == sent
    if sleeps is None:
        assert sleep.calls == []
    else:
        assert len(sleep.calls) == 1 and sleeps[0] <= sleep.calls[0] <= sleeps[1]
    window = windows["shop/web"][FIRST]
    assert window.health is health
    assert message in window.message
    others = {windows["pay/api"][s].health for s in SIGNALS[1:]}
    assert others == {Health.OK}


def test_a_bad_query_is_permanent_named_and_leaves_the_breaker_closed(
    proxy: RecordingProxy, now: datetime
) -> None:
    sleep = RecordingSleep()
    bad = 'sum(rate(http_requests_total{namespace=~"${namespace_regex}"}[5m]'
    metrics = observer(proxy.url, sleep=sleep, queries={"error_ratio": bad})
    for tick in range(4):
        windows = metrics.observe(REFS, now + timedelta(seconds=tick * STEP))
    assert len(proxy.queries()) == 4 * len(Signal)  # never retried
    assert sleep.calls == []
    window = windows["shop/cart"][Signal.ERROR_RATIO]
    assert window.health is Health.ERROR
    assert "HTTP 400: bad_data: " in window.message and "parse error" in window.message
    text = metrics.query_text(query_name(window.message))
    assert text is not None and 'sum(rate(http_requests_total{namespace=~"pay|shop"}[5m]' in text
    assert state_of(metrics.breaker) is BreakerState.CLOSED
    assert windows["shop/cart"][Signal.REQUEST_RATE].health is Health.OK
    assert not metrics.health(now).ok  # never a full tick
