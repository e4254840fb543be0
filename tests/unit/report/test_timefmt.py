"""Report times read as offsets from the reference, with UTC beside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from controller.report.timefmt import (
    format_axis,
    format_clock,
    format_offset,
    format_relative,
    format_utc,
)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "+0s"),
        (0.4, "+0s"),
        (-0.4, "+0s"),
        (45, "+45s"),
        (-150, "-2m30s"),
        (240, "+4m00s"),
        (65.6, "+1m06s"),
        (3900, "+1h05m00s"),
        (-7322, "-2h02m02s"),
        (26 * 3600, "+26h00m00s"),
    ],
)
def test_format_offset(seconds: float, expected: str) -> None:
    assert format_offset(seconds) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0"), (-600, "-10m"), (300, "+5m"), (5400, "+1h30m"), (45, "+45s"), (-3600, "-1h")],
)
def test_format_axis(seconds: float, expected: str) -> None:
    assert format_axis(seconds) == expected


def test_relative_and_absolute_forms_of_one_moment() -> None:
    reference = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    moment = datetime(2026, 3, 1, 13, 57, 30, tzinfo=timezone(timedelta(hours=2)))

    assert format_relative(moment, reference) == "-2m30s"
    assert format_utc(moment) == "2026-03-01T11:57:30Z"
    assert format_clock(moment) == "11:57:30"
