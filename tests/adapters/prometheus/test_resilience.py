"""The shared retry layer and circuit breaker, with a fake clock and a recording sleep."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.utils import formatdate

import pytest
from structlog.testing import capture_logs

from controller.errors import PermanentError, TemporaryError
from controller.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    RetryAfterError,
    parse_retry_after,
    retry_call,
)
from controller.settings import BreakerSettings, RetrySettings
from tests.adapters.prometheus.helpers import FakeClock, RecordingSleep, state_of

RETRY = RetrySettings(
    attempts=4,
    initial_backoff=timedelta(seconds=0.5),
    max_backoff=timedelta(seconds=3),
    max_retry_after=timedelta(seconds=30),
)


class Flaky:
    """Raises the queued errors one per call, then returns ``"done"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_a_call_that_succeeds_is_not_retried() -> None:
    sleep, fn = RecordingSleep(), Flaky()
    assert retry_call(fn, settings=RETRY, name="t", sleep=sleep) == "done"
    assert (fn.calls, sleep.calls) == (1, [])


def test_temporary_errors_are_retried_until_success() -> None:
    sleep, fn = RecordingSleep(), Flaky(TemporaryError("a"), TemporaryError("b"))
    assert retry_call(fn, settings=RETRY, name="t", sleep=sleep) == "done"
    assert fn.calls == 3
    assert len(sleep.calls) == 2


def test_attempts_are_bounded_and_the_last_error_is_reraised() -> None:
    sleep = RecordingSleep()
    fn = Flaky(*(TemporaryError(f"fail {i}") for i in range(10)))
    with pytest.raises(TemporaryError, match="fail 3"):
        retry_call(fn, settings=RETRY, name="t", sleep=sleep)
    assert fn.calls == RETRY.attempts
    assert len(sleep.calls) == RETRY.attempts - 1


@pytest.mark.parametrize(
    "error", [PermanentError("bad query"), ValueError("a bug"), KeyError("x")], ids=repr
)
def test_non_retryable_errors_propagate_at_once(error: Exception) -> None:
    sleep, fn = RecordingSleep(), Flaky(error)
    with pytest.raises(type(error)):
        retry_call(fn, settings=RETRY, name="t", sleep=sleep)
    assert (fn.calls, sleep.calls) == (1, [])


def test_backoff_is_jittered_and_grows_within_its_bounds() -> None:
    waits: dict[int, list[float]] = {1: [], 2: [], 3: []}
    for _ in range(60):
        sleep = RecordingSleep()
        fn = Flaky(*(TemporaryError("x") for _ in range(10)))
        with pytest.raises(TemporaryError):
            retry_call(fn, settings=RETRY, name="t", sleep=sleep)
        for attempt, wait in enumerate(sleep.calls, start=1):
            waits[attempt].append(wait)
    for attempt, seen in waits.items():
        ceiling = min(3.0, 0.5 * 2**attempt)
        assert all(0.5 <= w <= ceiling for w in seen), (attempt, min(seen), max(seen))
        assert max(seen) - min(seen) > 0.05, "no jitter"
    assert max(waits[3]) > 2.0, "the window does not widen"


def test_retry_after_is_honoured_even_above_max_backoff() -> None:
    sleep, fn = RecordingSleep(), Flaky(RetryAfterError("429", delay=7.0))
    assert retry_call(fn, settings=RETRY, name="t", sleep=sleep) == "done"
    assert len(sleep.calls) == 1
    assert sleep.calls[0] >= 7.0


def test_a_plain_temporary_delay_is_not_a_retry_after() -> None:
    sleep, fn = RecordingSleep(), Flaky(TemporaryError("5xx", delay=25.0))
    retry_call(fn, settings=RETRY, name="t", sleep=sleep)
    assert sleep.calls[0] <= 1.0


def test_retry_after_above_the_limit_fails_at_once() -> None:
    sleep, fn = RecordingSleep(), Flaky(RetryAfterError("429 for 2 minutes", delay=120.0))
    with pytest.raises(RetryAfterError, match="2 minutes"):
        retry_call(fn, settings=RETRY, name="t", sleep=sleep)
    assert (fn.calls, sleep.calls) == (1, [])


def test_each_retry_is_logged_and_reported_with_its_wait() -> None:
    sleep, fn = RecordingSleep(), Flaky(TemporaryError("connection refused"))
    seen: list[tuple[int, float, str]] = []
    with capture_logs() as logs:
        retry_call(
            fn,
            settings=RETRY,
            name="prometheus.query_range",
            sleep=sleep,
            on_retry=lambda attempt, wait, error: seen.append((attempt, wait, str(error))),
        )
    assert seen == [(1, sleep.calls[0], "connection refused")]
    assert len(logs) == 1
    event = logs[0]
    assert event["event"] == "retrying call"
    assert event["call"] == "prometheus.query_range"
    assert event["attempt"] == 1
    assert event["error"] == "connection refused"
    assert event["wait_seconds"] == pytest.approx(sleep.calls[0], abs=1e-3)


SENT = formatdate(1_800_000_000, usegmt=True)


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        ("5", None, 5.0),
        (" 120 ", None, 120.0),
        ("0", None, 0.0),
        (None, None, None),
        ("", SENT, None),
        ("soon", SENT, None),
        ("-3", None, None),
        (formatdate(1_800_000_042, usegmt=True), SENT, 42.0),
        (formatdate(1_799_999_000, usegmt=True), SENT, 0.0),
        (formatdate(1_800_000_042, usegmt=True), None, None),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, date) == expected


# -- circuit breaker -------------------------------------------------------------------------

BREAKER = BreakerSettings(failures=3, reset_after=timedelta(seconds=30))


def fail() -> None:
    raise TemporaryError("down")


def trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(TemporaryError):
            breaker.call(fail)


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(BREAKER, FakeClock())
    trip(breaker, 2)
    assert breaker.call(lambda: "up") == "up"  # a success resets the count
    trip(breaker, 2)
    assert state_of(breaker) is BreakerState.CLOSED
    trip(breaker, 1)
    assert state_of(breaker) is BreakerState.OPEN


def test_an_open_breaker_rejects_without_calling() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BREAKER, clock)
    trip(breaker, 3)
    clock.advance(10)
    fn = Flaky()
    with pytest.raises(CircuitOpenError) as raised:
        breaker.call(fn)
    assert fn.calls == 0
    assert raised.value.delay == pytest.approx(20.0)


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BREAKER, clock)
    trip(breaker, 3)
    clock.advance(30)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow() is True
    assert breaker.allow() is False
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow() is True


def test_a_failed_probe_reopens_for_another_reset_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BREAKER, clock)
    trip(breaker, 3)
    clock.advance(30)
    trip(breaker, 1)  # the probe
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(29)
    assert breaker.allow() is False
    clock.advance(1)
    assert breaker.call(lambda: "up") == "up"
    assert state_of(breaker) is BreakerState.CLOSED


def test_permanent_errors_prove_the_backend_is_up() -> None:
    breaker = CircuitBreaker(BREAKER, FakeClock())
    for _ in range(5):
        with pytest.raises(PermanentError):
            breaker.call(Flaky(PermanentError("400 bad query")))
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_an_interrupted_probe_does_not_wedge_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BREAKER, clock)
    trip(breaker, 3)
    clock.advance(30)
    with pytest.raises(KeyboardInterrupt):
        breaker.call(Flaky(KeyboardInterrupt()))
    assert breaker.call(lambda: "up") == "up"


def test_only_one_of_many_concurrent_callers_probes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BREAKER, clock)
    trip(breaker, 3)
    clock.advance(30)
    barrier = threading.Barrier(16)
    allowed: list[bool] = []
    lock = threading.Lock()

    def contend() -> None:
        barrier.wait(timeout=5)
        verdict = breaker.allow()
        with lock:
            allowed.append(verdict)

    threads = [threading.Thread(target=contend) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(allowed) == [False] * 15 + [True]
