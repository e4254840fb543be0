"""The one retry layer (R9) and the circuit breaker shared by every adapter.

Adapters translate their SDK's exceptions into ``TemporaryError`` / ``PermanentError`` first;
this module only ever asks ``is_retryable``. A server's ``Retry-After`` travels as
``RetryAfterError`` (a ``TemporaryError`` whose ``delay`` the server chose): the wait is then at
least that long, and a delay above ``max_retry_after`` fails the call at once instead of
parking the caller for minutes.

Why the breaker is written here rather than taken from a library (reviewed for issue 9). The
retries already are a library: tenacity, extended only through its documented ``wait_base``
and ``stop_base`` hooks. A breaker has to meet four requirements. Its time comes from the
injected clock, so replay and tests are deterministic without patching the clock. It reports
its state, failure count and next probe time for health details and metrics. Half-open lets
exactly one probe out while other callers are rejected, without a lock held across the call.
A caller's predicate decides what counts (a 400 proves the backend is up; an interrupted
probe proves nothing). The maintained libraries considered:

- ``pybreaker``: reads wall time (``datetime.now(UTC)`` when opening and when deciding to
  half-open) with no clock parameter, so tests would need freezegun or a patched module.
  ``call`` holds one RLock for the whole guarded call, so a slow Prometheus query would
  block every other caller of the breaker. An open breaker reads "open" until a call moves
  it, so health would miss the half-open state. BaseExceptions count as failures.
- ``aiobreaker``: the asyncio port of pybreaker, with the same wall clock
  (``datetime.utcnow``). Its API is async only, and these adapters are synchronous
  (requests, the sync Anthropic client).
- ``purgatory``: ``time.time()`` is hard-coded in its open state. Half-open lets every
  concurrent request through instead of one probe. It is built around a named-breaker
  factory with a unit of work and a message bus (async first, sync generated), which is
  more machinery than one breaker per backend needs.
- ``limits`` and ``aiolimiter``: rate limiters, not breakers. This module throttles
  nothing client-side; it honours the server's Retry-After, a retry wait that tenacity
  already serves. ``limits`` takes time from the wall clock in its storage backends (its
  own tests freeze time with ``hiro``). ``aiolimiter`` is asyncio only, on the event
  loop's clock. Policy rate caps are pure functions of the ledger history and ``now`` in
  ``guardrails``, and the Kubernetes client's limiter lives in ``controller.kube``.

So the breaker stays here: about 100 lines with an injected clock, tested through the
adapters that use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TypeVar

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_random_exponential

from controller.errors import TemporaryError, is_retryable
from controller.settings import BreakerSettings, RetrySettings

T = TypeVar("T")

log = structlog.get_logger(__name__)

OnRetry = Callable[[int, float, BaseException], None]
"""Called before each sleep with (failed attempt number, seconds to wait, the error)."""


class RetryAfterError(TemporaryError):
    """A TemporaryError whose ``delay`` is the server's ``Retry-After`` (429, 503)."""


class CircuitOpenError(TemporaryError):
    """Raised instead of calling a backend whose circuit breaker is open."""


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None when absent or unreadable.

    The header is either delta-seconds or an HTTP date; a date is measured against the
    response's own ``Date`` header (no local clock, so a skewed host cannot stretch it).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    sent = _http_date(date)
    until = _http_date(text)
    if sent is None or until is None:
        return None
    return max(0.0, (until - sent).total_seconds())


def _http_date(text: str | None) -> datetime | None:
    """An HTTP date, or None when missing or malformed."""
    if not text:
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def _server_delay(exc: BaseException | None) -> float | None:
    """The Retry-After delay an error carries, if the server set one."""
    return exc.delay if isinstance(exc, RetryAfterError) else None


def _outcome_error(state: RetryCallState) -> BaseException | None:
    """The exception of the attempt that just finished, if it failed."""
    return None if state.outcome is None else state.outcome.exception()


class _RetryAfterTooLong(stop_base):
    """Stop condition: the server asked for a longer pause than we are willing to take."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, state: RetryCallState) -> bool:
        delay = _server_delay(_outcome_error(state))
        return delay is not None and delay > self.limit


class _BackoffHonouringRetryAfter(wait_base):
    """Full-jitter exponential backoff, but never shorter than the server's Retry-After.

    Retry ``n`` waits uniformly between ``initial`` and ``min(max, initial * 2**n)``.
    """

    def __init__(self, settings: RetrySettings) -> None:
        initial = settings.initial_backoff.total_seconds()
        ceiling = max(initial, settings.max_backoff.total_seconds())
        self._backoff = wait_random_exponential(multiplier=2 * initial, min=initial, max=ceiling)

    def __call__(self, state: RetryCallState) -> float:
        backoff = float(self._backoff(state))
        delay = _server_delay(_outcome_error(state))
        return backoff if delay is None else max(backoff, delay)


def retry_call(
    fn: Callable[[], T],
    *,
    settings: RetrySettings,
    name: str,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> T:
    """Call ``fn`` with bounded, jittered retries of retryable errors; re-raise the last one.

    Only ``is_retryable`` errors are retried (``PermanentError`` and anything untranslated
    propagate at once). ``name`` labels the log events so that a human can tell which
    backend call was retried.
    """

    def before_sleep(state: RetryCallState) -> None:
        error = _outcome_error(state)
        wait = 0.0 if state.next_action is None else float(state.next_action.sleep)
        log.info(
            "retrying call",
            call=name,
            attempt=state.attempt_number,
            wait_seconds=round(wait, 3),
            error=str(error),
        )
        if on_retry is not None and error is not None:
            on_retry(state.attempt_number, wait, error)

    retrying = Retrying(
        sleep=sleep,
        stop=stop_after_attempt(settings.attempts)
        | _RetryAfterTooLong(settings.max_retry_after.total_seconds()),
        wait=_BackoffHonouringRetryAfter(settings),
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)


class BreakerState(StrEnum):
    """Closed: calls flow. Open: calls are rejected. Half-open: one probe decides."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops hammering a backend that keeps failing, and lets one probe test its recovery.

    Closed until ``failures`` consecutive failures, then open (every call rejected at once)
    for ``reset_after``; then half-open: exactly one probe goes through, its success closes
    the breaker and its failure re-opens it for another ``reset_after``. Only errors for which
    ``counts`` is true are failures (by default the retryable ones): a 400 for a bad query
    proves the backend is up. Thread-safe.
    """

    def __init__(
        self,
        settings: BreakerSettings,
        clock: Callable[[], float] = time.monotonic,
        *,
        counts: Callable[[BaseException], bool] = is_retryable,
    ) -> None:
        self._threshold = settings.failures
        self._reset_after = settings.reset_after.total_seconds()
        self._clock = clock
        self._counts = counts
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose reset time passed reads half-open)."""
        with self._lock:
            return self._state_locked()

    @property
    def consecutive_failures(self) -> int:
        """Failures counted since the last success."""
        with self._lock:
            return self._failures

    def _state_locked(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self._reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, True for the single probe only."""
        with self._lock:
            state = self._state_locked()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        """The backend answered: close the breaker and forget past failures."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        """One more failure: open when the threshold is reached or the probe failed."""
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._probing = False

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 when calls flow)."""
        with self._lock:
            if self._opened_at is None or self._probing:
                return 0.0
            return max(0.0, self._opened_at + self._reset_after - self._clock())

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` through the breaker; raise CircuitOpenError when it is open."""
        if not self.allow():
            raise CircuitOpenError("circuit open", delay=self.retry_in())
        try:
            result = fn()
        except Exception as exc:
            # Re-raised below: the breaker only takes note of what the error says about
            # the backend's health.
            if self._counts(exc):
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            self._release_probe()
            raise
        self.record_success()
        return result

    def _release_probe(self) -> None:
        """An interrupted probe proves nothing: let the next call probe instead."""
        with self._lock:
            self._probing = False
