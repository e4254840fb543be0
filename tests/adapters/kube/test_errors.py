"""Translation of client failures into the controller's two error kinds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from controller.errors import PermanentError, TemporaryError, is_retryable
from controller.kube.errors import (
    DEFAULT_DELAY,
    ConflictError,
    GoneError,
    KubePermanentError,
    KubeTemporaryError,
    NotFoundError,
    retry_after_seconds,
    translate,
    translated,
)


def api_error(status: int, retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.headers = {"Retry-After": retry_after} if retry_after else {}
    return exc


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (409, ConflictError, True),
        (410, GoneError, True),
        (429, KubeTemporaryError, True),
        (408, KubeTemporaryError, True),
        (500, KubeTemporaryError, True),
        (503, KubeTemporaryError, True),
        (0, KubeTemporaryError, True),
        (400, KubePermanentError, False),
        (401, KubePermanentError, False),
        (403, KubePermanentError, False),
        (404, NotFoundError, False),
        (422, KubePermanentError, False),
    ],
)
def test_status_mapping(status, kind, retryable):
    ours = translate(api_error(status), "get deployment shop/web")
    assert ours is not None
    assert type(ours) is kind
    assert is_retryable(ours) is retryable
    assert isinstance(ours, TemporaryError if retryable else PermanentError)
    assert f"HTTP {status}" in str(ours)
    assert "get deployment shop/web" in str(ours)


def test_retry_after_becomes_the_delay():
    ours = translate(api_error(429, retry_after="7"), "list pods")
    assert isinstance(ours, KubeTemporaryError)
    assert (ours.delay, ours.retry_after) == (7.0, 7.0)
    plain = translate(api_error(503), "list pods")
    assert isinstance(plain, KubeTemporaryError)
    assert (plain.delay, plain.retry_after) == (DEFAULT_DELAY, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 12 ", 12.0),
        ("Tue, 10 Mar 2026 12:00:30 GMT", 30.0),
        ("Tue, 10 Mar 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value, expected):
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert retry_after_seconds(value, now) == expected


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.ProtocolError("Response ended prematurely"),
        urllib3.exceptions.ReadTimeoutError(None, "/apis", "read timed out"),  # type: ignore[arg-type]
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_transport_failures_are_temporary(exc):
    ours = translate(exc, "watch pods")
    assert isinstance(ours, KubeTemporaryError)
    assert ours.retry_after is None


def test_unrelated_exceptions_are_not_translated():
    assert translate(KeyError("bug"), "x") is None
    with pytest.raises(KeyError), translated("x"):
        raise KeyError("a programming error stays what it is")


def test_translated_chains_the_original():
    with pytest.raises(GoneError) as caught, translated("watch deployments"):
        raise api_error(410)
    assert isinstance(caught.value.__cause__, ApiException)


def test_bad_json_is_temporary():
    with pytest.raises(KubeTemporaryError, match="unreadable response"), translated("list"):
        json.loads("<html>502 Bad Gateway</html>")
