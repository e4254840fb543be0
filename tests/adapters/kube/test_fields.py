"""Field readers: quantities, timestamps, ownership and untrusted text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from controller.kube.fields import clean_text, owned_by, parse_int, parse_quantity, parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("250u", Decimal("0.00025")),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("2G", Decimal(2 * 10**9)),
        ("1.5k", Decimal(1500)),
        ("1e3", Decimal(1000)),
        (3, Decimal(3)),
        (0.25, Decimal("0.25")),
        ("12Qi", None),
        ("", None),
        ("Mi", None),
        (True, None),
        (None, None),
    ],
)
def test_parse_quantity(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-10T12:00:00Z", datetime(2026, 3, 10, 12, tzinfo=UTC)),
        ("2026-03-10T12:00:00.123456Z", datetime(2026, 3, 10, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-10T14:00:00+02:00", datetime(2026, 3, 10, 12, tzinfo=UTC)),
        ("2026-03-10T12:00:00", datetime(2026, 3, 10, 12, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (1700000000, None),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3), (" 12 ", 12), (7, 7), ("-2", -2), ("x", None), (True, None)]
)
def test_parse_int(value, expected):
    assert parse_int(value) == expected


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"kind": "Deployment", "name": "web", "uid": "u1"}, True),
        ({"kind": "Deployment", "name": "web", "uid": "other"}, False),  # same name, new object
        ({"kind": "Deployment", "name": "web"}, True),
        ({"kind": "StatefulSet", "name": "web", "uid": "u1"}, False),
    ],
)
def test_owned_by(reference, expected):
    owner = {"metadata": {"name": "web", "uid": "u1"}}
    child = {"metadata": {"ownerReferences": [reference]}}
    assert owned_by(child, "Deployment", owner) is expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("plain", 10, "plain"),
        ("a\x00b\x1b[31mc\x7f", 20, "a b [31mc"),
        ("line\nnext\ttab", 20, "line\nnext\ttab"),
        ("abcdefghij", 5, "abcd…"),
        (None, 5, ""),
    ],
)
def test_clean_text(text, limit, expected):
    assert clean_text(text, limit) == expected
