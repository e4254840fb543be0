"""Every failure of the HTTP layer is data: ``observe()`` and ``read()`` never raise (issue 10).

A property test drives the observer through each way a Prometheus (or what sits in front of
it) can fail, served byte by byte by a loopback fake on 127.0.0.1: connection refused, reset
mid-body, truncated chunked and short bodies, wrong content type, invalid JSON, JSON of the
wrong shape at every level of the answer, 3xx/4xx/5xx with and without Prometheus' error
JSON, 429/503 with every kind of Retry-After, no answer or a trickle beyond the timeout, a
body over the size cap (declared or not), a non-HTTP answer, a 431 that resets. Every
watched (workload, signal) must come back ``error`` with a short message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.models.signals import Health, Signal
from controller.models.workloads import WorkloadRef
from controller.settings import BreakerSettings, RetrySettings
from tests.adapters.prometheus import fakes
from tests.adapters.prometheus.fakes import FaultServer, Writer
from tests.adapters.prometheus.helpers import RecordingSleep, observer

REFS = [WorkloadRef(namespace="shop", name="web"), WorkloadRef(namespace="pay", name="api")]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMEOUT = 0.25
LIMIT = 64 * 1024
MESSAGE_LIMIT = 600
"""Longest message a window may carry here (the names and the range are the rest)."""


@dataclass(frozen=True)
class Case:
    """One failure mode: a name for the report and how the fake answers (None: refused)."""

    name: str
    writer: Writer | None

    def __repr__(self) -> str:
        return self.name


def case(name: str, writer: Writer | None) -> Case:
    return Case(name, writer)


def _floatable(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
NOT_OBJECT = JSON.filter(lambda v: not isinstance(v, dict))
NOT_ARRAY = JSON.filter(lambda v: not isinstance(v, list))
NOT_NUMBER = JSON.filter(lambda v: not isinstance(v, int | float))
"""Booleans pass as 0/1, as Python's float() reads them; every other non-number is refused."""
NOT_VALUE = JSON.filter(
    lambda v: v is None or isinstance(v, list | dict) or (isinstance(v, str) and not _floatable(v))
)
NOT_PAIR = JSON.filter(lambda v: not isinstance(v, list) or len(v) < 2)


def _envelope(**changes: Any) -> Any:
    """A valid answer for shop/web with one part replaced (``root`` replaces everything)."""
    pair: list[Any] = [changes.get("time", NOW.timestamp()), changes.get("value", "1")]
    values = changes.get("values", [changes.get("pair", pair)])
    item = changes.get("item", {"metric": changes.get("metric", _LABELS), "values": values})
    data = changes.get("data", {"resultType": changes.get("type", "matrix"), "result": None})
    if isinstance(data, dict) and "data" not in changes:
        data["result"] = changes.get("result", [item])
    return changes.get("root", {"status": changes.get("status", "success"), "data": data})


_LABELS = {"namespace": "shop", "workload": "web"}
_PLACES = {
    "root": NOT_OBJECT,
    "status": JSON.filter(lambda v: v != "success"),
    "data": NOT_OBJECT,
    "type": JSON.filter(lambda v: v != "matrix"),
    "result": NOT_ARRAY,
    "item": NOT_OBJECT,
    "metric": NOT_OBJECT,
    "values": NOT_ARRAY,
    "pair": NOT_PAIR,
    "time": NOT_NUMBER,
    "value": NOT_VALUE,
}


@st.composite
def wrong_shapes(draw: st.DrawFn) -> Case:
    place = draw(st.sampled_from(sorted(_PLACES)))
    wrong = draw(_PLACES[place])
    body = json.dumps(_envelope(**{place: wrong})).encode()
    return case(f"shape {place}={wrong!r}", fakes.answer(200, body))


def _no_success(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return True
    return not (isinstance(parsed, dict) and parsed.get("status") == "success")


PROMETHEUS_ERROR = st.builds(
    lambda kind, text: json.dumps({"status": "error", "errorType": kind, "error": text}).encode(),
    st.sampled_from(["bad_data", "execution", "timeout", "internal", "unavailable"]),
    st.text(max_size=2000),
)
BODIES = PROMETHEUS_ERROR | st.binary(max_size=3000) | st.just(b"")
RETRY_AFTER = (
    st.integers(0, 10**6).map(str)
    | st.just("Sun, 01 Mar 2026 12:00:05 GMT")
    | st.text(alphabet="abc -:1", max_size=12)
)


def statuses() -> st.SearchStrategy[Case]:
    code = st.integers(300, 599)
    kind = st.sampled_from(["application/json", "text/plain"])
    return st.builds(
        lambda c, b, k: case(f"HTTP {c} {b[:40]!r}", fakes.answer(c, b, k)), code, BODIES, kind
    )


def throttled() -> st.SearchStrategy[Case]:
    def build(code: int, after: str, body: bytes) -> Case:
        writer = fakes.answer(code, body, "application/json", **{"Retry-After": after})
        return case(f"HTTP {code} Retry-After {after!r}", writer)

    return st.builds(build, st.sampled_from([429, 503]), RETRY_AFTER, BODIES)


def content_types() -> st.SearchStrategy[Case]:
    good = fakes.success([{"metric": _LABELS, "values": [[NOW.timestamp(), "1"]]}])
    kinds = st.sampled_from(["text/html", "text/plain", "application/xml", "", "application/js"])
    return st.builds(lambda k: case(f"content type {k!r}", fakes.answer(200, good, k)), kinds)


def invalid_json() -> st.SearchStrategy[Case]:
    bodies = st.binary(max_size=500).filter(_no_success) | st.just(b"[" * 100_000)
    return st.builds(lambda b: case(f"body {b[:40]!r}", fakes.answer(200, b)), bodies)


FIXED = [
    case("connection refused", None),
    case("reset mid-body", fakes.reset_mid_body()),
    case("431 then reset", fakes.reset_mid_body(431)),
    case("truncated chunked body", fakes.truncated_chunked()),
    case("truncated chunked 431", fakes.truncated_chunked(431)),
    case("short body", fakes.short_body()),
    case("no answer beyond the timeout", fakes.stall(TIMEOUT * 4)),
    case("trickle beyond the timeout", fakes.trickle(TIMEOUT / 5)),
    case("huge body, declared", fakes.huge(LIMIT * 4, declared=True)),
    case("huge body, chunked", fakes.huge(LIMIT * 4, declared=False)),
    case("not HTTP", fakes.raw(b"SSH-2.0-OpenSSH\r\n\r\n")),
    case("closed at once", fakes.raw(b"")),
    case("reset at once", fakes.raw(b"", then_reset=True)),
    case("bad gzip", fakes.answer(200, b"\x1f\x8b broken", **{"Content-Encoding": "gzip"})),
    case("status error in a 200", fakes.answer(200, b'{"status": "error", "error": "x"}')),
]

FAULTS = st.one_of(
    st.sampled_from(FIXED),
    wrong_shapes(),
    statuses(),
    throttled(),
    content_types(),
    invalid_json(),
)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        yield running


def _observer(url: str, sleep: RecordingSleep, timeout: float = TIMEOUT) -> Any:
    return observer(
        url,
        sleep=sleep,
        timeout=timedelta(seconds=timeout),
        max_response_bytes=LIMIT,
        retry=RetrySettings(attempts=2, initial_backoff=0, max_backoff=0),
        breaker=BreakerSettings(failures=1, reset_after=timedelta(minutes=5)),
    )


def assert_all_errors(windows: Any) -> None:
    assert set(windows) == {ref.key for ref in REFS}
    for by_signal in windows.values():
        assert set(by_signal) == set(Signal)
        for window in by_signal.values():
            assert window.health is Health.ERROR, window.message
            assert 0 < len(window.message) <= MESSAGE_LIMIT, window.message


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fault=FAULTS)
def test_every_http_failure_is_error_data_and_nothing_raises(
    server: FaultServer, fault: Case
) -> None:
    url = fakes.refused_url() if fault.writer is None else server.url
    if fault.writer is not None:
        server.writer = fault.writer
    sleep = RecordingSleep()
    metrics = _observer(url, sleep)
    try:
        assert_all_errors(metrics.observe(REFS, NOW))
        assert_all_errors(metrics.read(REFS, NOW + timedelta(minutes=1)))
        health = metrics.health(NOW)
    finally:
        metrics.close()
    assert not health.ok and len(health.detail) <= 2 * MESSAGE_LIMIT
    assert all(math.isfinite(s) and s <= 30 for s in sleep.calls)  # max_retry_after


def test_the_measured_431_with_a_reset_is_error_data(server: FaultServer) -> None:
    """The issue's report: ChunkedEncodingError escaped observe() on 3 of 3 tries."""
    server.writer = fakes.reset_mid_body(431)
    metrics = _observer(server.url, RecordingSleep(), timeout=10.0)  # no timeout under load
    before = len(server.seen)
    for tick in range(3):
        windows = metrics.observe(REFS, NOW + timedelta(seconds=30 * tick))
        assert_all_errors(windows)
        message = windows["shop/web"][Signal.REQUEST_RATE].message
        assert "HTTP 431: answer broken off" in message and "reset" in message
    assert len(server.seen) - before == 3 * len(Signal)  # a 4xx: no retry, breaker stays shut
