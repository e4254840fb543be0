"""The receiver's in-flight byte budget: bodies held across all connections are bounded.

Without it, ``max_connections`` slow senders of ``max_body_bytes`` each could make the
receiver hold their product (256 x 8 MiB by default). A sender that would pass the budget is
answered 503 with Retry-After (retryable per the OTLP spec) and its connection closed; every
way a request ends gives its bytes back, so a body of exactly the budget is taken afterwards.
"""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import ValidationError

from controller.observers.traces import TraceReceiver
from controller.settings import TracesSettings
from tests.adapters.traces.conftest import ReceiverFactory
from tests.adapters.traces.otel import captured_shop, encode
from tests.adapters.traces.slow import http_post, raw_clients

BUDGET = 4096
WITHIN = 3.0  # seconds for the receiver to have read a slow sender's bytes (loaded runner)
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _body(requests: int) -> bytes:
    spans, _ = captured_shop(requests)
    return encode(spans).SerializeToString()


def _post(receiver: TraceReceiver, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(receiver.endpoint, content=body, headers={**PROTOBUF, **headers}, timeout=5)


def _first(receiver: TraceReceiver, body: bytes, status: int) -> httpx.Response:
    """Post ``body`` until the answer is ``status`` (bounded by WITHIN); the last answer."""
    deadline = time.monotonic() + WITHIN
    while True:
        answer = _post(receiver, body)
        if answer.status_code == status or time.monotonic() >= deadline:
            return answer
        time.sleep(0.05)


@pytest.fixture
def receiver(start_receiver: ReceiverFactory) -> TraceReceiver:
    return start_receiver(max_body_bytes=BUDGET, max_inflight_bytes=BUDGET, body_timeout=10)


def test_a_body_that_would_pass_the_budget_is_503_with_retry_after(
    receiver: TraceReceiver,
) -> None:
    export = _body(2)
    assert 3000 + len(export) > BUDGET >= len(export)
    assert _post(receiver, export).status_code == 200
    with raw_clients(receiver.port, 1) as (slow,):
        slow.send(http_post(b"\x00" * 3000, length=4000))  # 3000 bytes held, 1000 to come

        busy = _first(receiver, export, 503)

        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert busy.headers["connection"] == "close"
        assert b"in-flight body bytes" in busy.content
    # The slow sender hung up: its 3000 bytes are given back.
    assert _first(receiver, export, 200).status_code == 200


def test_every_ending_gives_its_bytes_back(receiver: TraceReceiver) -> None:
    export = _body(2)
    for _ in range(5):
        assert _post(receiver, b"\x00" * (BUDGET + 1)).status_code == 413
        assert _post(receiver, b"\xff\xff\xff").status_code == 400
        assert _post(receiver, b"garbage", **{"Content-Encoding": "gzip"}).status_code == 400
        assert _post(receiver, export).status_code == 200
        with raw_clients(receiver.port, 1) as (gone,):
            gone.send(http_post(b"\x00" * 2000, length=3000))
            time.sleep(0.05)

    # Only a receiver holding nothing takes a body of exactly the budget (then 400: junk).
    assert _first(receiver, b"\x00" * BUDGET, 400).status_code == 400


def test_a_budget_below_one_body_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="max_inflight_bytes .* must be at least"):
        TracesSettings(max_body_bytes=8192, max_inflight_bytes=4096)
