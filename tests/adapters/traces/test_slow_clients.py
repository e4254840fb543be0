"""Slow clients cannot hold the receiver: head and body deadlines, the keep-alive idle timeout
and the connection cap, each checked while normal exports are still answered 200.

The slow clients are raw sockets (slow.py); the limits are set small so each test takes ~2 s.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from pydantic import ValidationError

from controller.observers.traces import TraceReceiver
from controller.settings import TracesSettings
from tests.adapters.traces.conftest import ReceiverFactory
from tests.adapters.traces.otel import captured_shop, encode
from tests.adapters.traces.slow import RawClient, drip, http_post, raw_clients, read_response

HEAD_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
IDLE_TIMEOUT = 1.0  # uvicorn counts keep-alive in whole seconds
EARLY = 0.05  # a close this much before its timeout is not the timeout's
MARGIN = 1.0  # scheduling slack on a loaded two-core runner
SERVED_WITHIN = 2.0  # the bound on a normal export's round trip during an attack
DRIP = 0.1  # seconds between two bytes of a slow client
SLOW_HEAD = b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100  # never ends


@functools.cache
def _export_body() -> bytes:
    spans, _ = captured_shop(2)
    return encode(spans).SerializeToString()


def _export(receiver: TraceReceiver) -> tuple[int, float]:
    """One normal export on a new connection: (status, seconds taken); 0 if refused."""
    started = time.monotonic()
    headers = {"Content-Type": "application/x-protobuf"}
    try:
        status = httpx.post(receiver.endpoint, content=_export_body(), headers=headers, timeout=5)
    except httpx.TransportError:
        return 0, time.monotonic() - started
    return status.status_code, time.monotonic() - started


def _exports_during(attack: Callable[[], None], receiver: TraceReceiver) -> list[tuple[int, float]]:
    """Run ``attack`` in a thread and make three normal exports meanwhile."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(attack)
        time.sleep(DRIP)
        served = [_export(receiver) for _ in range(3)]
        running.result(timeout=10)
    return served


def _lifetimes(clients: list[RawClient]) -> list[float]:
    open_ = sum(client.closed_at is None for client in clients)
    assert open_ == 0, f"{open_} of {len(clients)} slow connections still open"
    return [client.closed_at - client.opened_at for client in clients if client.closed_at]


def test_a_slowloris_head_is_cut_off_while_exports_are_served(
    start_receiver: ReceiverFactory,
) -> None:
    receiver = start_receiver(header_timeout=HEAD_TIMEOUT)
    with raw_clients(receiver.port, 200) as slow:
        attack = functools.partial(
            drip, slow, SLOW_HEAD, interval=DRIP, within=HEAD_TIMEOUT + MARGIN
        )
        served = _exports_during(attack, receiver)

    assert [status for status, _ in served] == [200, 200, 200]
    assert max(seconds for _, seconds in served) < SERVED_WITHIN
    lifetimes = _lifetimes(slow)
    assert HEAD_TIMEOUT - EARLY <= min(lifetimes) <= max(lifetimes) <= HEAD_TIMEOUT + MARGIN
    assert all(client.received == b"" for client in slow)  # closed, never answered
    assert receiver.aggregator.rejected_requests() == {"header_timeout": 200}


def test_a_slow_body_is_answered_408_and_closed_while_exports_are_served(
    start_receiver: ReceiverFactory,
) -> None:
    receiver = start_receiver(body_timeout=BODY_TIMEOUT)
    with raw_clients(receiver.port, 20) as slow:
        for client in slow:
            client.send(http_post(b"", length=1000))  # the head at once, the body never whole
        attack = functools.partial(
            drip, slow, b"a" * 100, interval=DRIP, within=BODY_TIMEOUT + MARGIN
        )
        served = _exports_during(attack, receiver)

    assert [status for status, _ in served] == [200, 200, 200]
    assert max(seconds for _, seconds in served) < SERVED_WITHIN
    lifetimes = _lifetimes(slow)
    assert BODY_TIMEOUT - EARLY <= min(lifetimes) <= max(lifetimes) <= BODY_TIMEOUT + MARGIN
    for client in slow:
        assert client.received.startswith(b"HTTP/1.1 408 ")
        assert b"\r\nconnection: close\r\n" in client.received.lower()
    assert receiver.aggregator.rejected_requests() == {"body_timeout": 20}


def test_a_slowloris_head_on_a_reused_connection_is_cut_off(
    start_receiver: ReceiverFactory,
) -> None:
    receiver = start_receiver(header_timeout=HEAD_TIMEOUT, idle_timeout=10)
    with raw_clients(receiver.port, 1) as (client,):
        client.send(http_post(_export_body()))
        assert read_response(client, within=SERVED_WITHIN) == 200
        started = time.monotonic()  # the first byte of the next head goes out now
        drip([client], SLOW_HEAD, interval=DRIP, within=HEAD_TIMEOUT + MARGIN)

    assert client.closed_at is not None, "the slow second head was not cut off"
    assert HEAD_TIMEOUT - EARLY <= client.closed_at - started <= HEAD_TIMEOUT + MARGIN


def test_a_body_still_coming_after_a_413_is_cut_off_like_a_slow_head(
    start_receiver: ReceiverFactory,
) -> None:
    receiver = start_receiver(header_timeout=HEAD_TIMEOUT, idle_timeout=10, max_body_bytes=1024)
    with raw_clients(receiver.port, 1) as (client,):
        client.send(http_post(b"", length=10_000))  # refused from Content-Length alone
        assert read_response(client, within=SERVED_WITHIN) == 413
        started = time.monotonic()
        drip([client], b"a" * 100, interval=DRIP, within=HEAD_TIMEOUT + MARGIN)

    assert client.closed_at is not None, "the unread body kept the connection open"
    assert HEAD_TIMEOUT - EARLY <= client.closed_at - started <= HEAD_TIMEOUT + MARGIN


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(
    start_receiver: ReceiverFactory,
) -> None:
    receiver = start_receiver(idle_timeout=IDLE_TIMEOUT)
    with raw_clients(receiver.port, 1) as (client,):
        client.send(http_post(_export_body()))
        assert read_response(client, within=SERVED_WITHIN) == 200
        answered = time.monotonic()
        assert not client.wait_closed(within=IDLE_TIMEOUT / 2)  # kept alive for reuse
        assert client.wait_closed(within=IDLE_TIMEOUT / 2 + MARGIN), "idle connection kept open"

    assert client.closed_at is not None
    assert IDLE_TIMEOUT - EARLY <= client.closed_at - answered <= IDLE_TIMEOUT + MARGIN


def _export_until_served(receiver: TraceReceiver, within: float) -> int:
    """Export until one is answered 200 or ``within`` seconds pass: the last status."""
    deadline = time.monotonic() + within
    status, _ = _export(receiver)
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        status, _ = _export(receiver)
    return status


def test_connections_beyond_the_cap_get_503_and_are_closed_at_once(
    start_receiver: ReceiverFactory,
) -> None:
    receiver = start_receiver(max_connections=4, header_timeout=10)
    with raw_clients(receiver.port, 4) as holders:
        with raw_clients(receiver.port, 10) as extra:
            refused = [client.wait_closed(within=MARGIN) for client in extra]
            over_cap, _ = _export(receiver)
        held = [not holder.poll() for holder in holders]

    assert refused == [True] * 10
    assert max(_lifetimes(extra)) <= MARGIN
    assert all(client.received.startswith(b"HTTP/1.1 503 ") for client in extra)
    assert over_cap in (0, 503)  # refused: a 503, or a reset if the request was still unread
    assert held == [True] * 4  # the cap closes new connections, never those it holds
    assert receiver.aggregator.rejected_requests()["connection_limit"] >= 10
    assert _export_until_served(receiver, within=SERVED_WITHIN) == 200  # slots free on close


def test_connection_limits_are_settings_with_finite_defaults() -> None:
    settings = TracesSettings()
    assert settings.header_timeout == timedelta(seconds=10)
    assert settings.body_timeout == timedelta(seconds=30)
    assert settings.idle_timeout == timedelta(seconds=15)
    assert settings.max_connections == 256
    for field in ("header_timeout", "body_timeout", "idle_timeout", "max_connections"):
        with pytest.raises(ValidationError, match=field):
            TracesSettings.model_validate({field: 0})
