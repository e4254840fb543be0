"""Test doubles and builders shared by the Prometheus adapter tests."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from controller.observers.prometheus import PrometheusMetrics, build_prometheus_metrics
from controller.resilience import BreakerState, CircuitBreaker
from controller.settings import BreakerSettings, PrometheusSettings, RetrySettings

STALE_AFTER = timedelta(seconds=90)
OPENED: list[PrometheusMetrics] = []
"""Observers built by ``observer()``, closed by the autouse fixture in conftest."""


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """A sleep that records the requested waits instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def prom_settings(url: str, **overrides: Any) -> PrometheusSettings:
    """Settings for the tests: 3 h lookback, fast retries, a breaker that opens quickly."""
    values: dict[str, Any] = {
        "url": url,
        "lookback": timedelta(hours=3),
        "timeout": timedelta(seconds=5),
        "retry": RetrySettings(
            attempts=2,
            initial_backoff=timedelta(milliseconds=10),
            max_backoff=timedelta(milliseconds=40),
            max_retry_after=timedelta(seconds=30),
        ),
        "breaker": BreakerSettings(failures=3, reset_after=timedelta(seconds=30)),
    }
    values.update(overrides)
    return PrometheusSettings(**values)


def observer(
    url: str,
    *,
    clock: FakeClock | None = None,
    sleep: RecordingSleep | None = None,
    **overrides: Any,
) -> PrometheusMetrics:
    """The real factory's observer, with an injected clock and sleep when given.

    Every observer is closed after its test (conftest), so no pooled socket outlives it.
    """
    metrics = build_prometheus_metrics(
        prom_settings(url, **overrides),
        stale_after=STALE_AFTER,
        clock=clock or FakeClock(),
        sleep=sleep or RecordingSleep(),
    )
    OPENED.append(metrics)
    return metrics


QUERY_NAME = re.compile(r"query ([a-z0-9_]+#[0-9a-f]{10}) ")


def query_name(message: str) -> str:
    """The name a window message gives its query (``error_ratio#3f9a1c2b7d``)."""
    found = QUERY_NAME.search(message)
    assert found is not None, message
    return found.group(1)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state, read through a call (so that type checkers do not narrow it)."""
    return breaker.state
