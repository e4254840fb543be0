"""Freeze windows: weekly ones in their own timezone (with DST), absolute ones half-open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.guardrails.engine import evaluate
from controller.guardrails.policy import FreezeWindow
from controller.guardrails.windows import open_windows
from controller.models.actions import ScaleAction
from controller.models.decisions import ReasonCode, Verdict
from tests.unit.guardrails.guardrails_helpers import WEB, facts, plan, policy_with

WEEKEND_BERLIN: dict[str, Any] = {
    "name": "weekend",
    "weekly": {
        "days": ["sat", "sun"],
        "start": "00:00",
        "end": "24:00",
        "timezone": "Europe/Berlin",
    },
}
OFFICE_NEW_YORK: dict[str, Any] = {
    "name": "office",
    "weekly": {"days": ["mon"], "start": "09:30", "end": "17:00", "timezone": "America/New_York"},
}
LAUNCH = {"name": "launch", "from": "2026-03-10T08:00:00Z", "to": "2026-03-10T20:00:00Z"}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def window(data: dict[str, Any]) -> FreezeWindow:
    return FreezeWindow.model_validate(data)


@pytest.mark.parametrize(
    ("data", "now", "is_open"),
    [
        # Winter: Berlin is UTC+1, so Saturday 00:00 local is Friday 23:00 UTC.
        (WEEKEND_BERLIN, utc(2026, 3, 6, 22, 59, 59), False),
        (WEEKEND_BERLIN, utc(2026, 3, 6, 23, 0), True),
        (WEEKEND_BERLIN, utc(2026, 3, 8, 22, 59, 59), True),  # Sunday 23:59:59 local
        (WEEKEND_BERLIN, utc(2026, 3, 8, 23, 0), False),  # Monday 00:00 local
        # Summer: UTC+2, the same local window starts an hour earlier in UTC.
        (WEEKEND_BERLIN, utc(2026, 7, 3, 22, 0), True),
        (WEEKEND_BERLIN, utc(2026, 7, 3, 21, 59), False),
        # The day the clocks go forward (Sunday 29 March 2026) is still inside.
        (WEEKEND_BERLIN, utc(2026, 3, 29, 1, 30), True),
        # Start inclusive, end exclusive, in New York time (UTC-5 in January).
        (OFFICE_NEW_YORK, utc(2026, 1, 5, 14, 29), False),
        (OFFICE_NEW_YORK, utc(2026, 1, 5, 14, 30), True),
        (OFFICE_NEW_YORK, utc(2026, 1, 5, 21, 59, 59), True),
        (OFFICE_NEW_YORK, utc(2026, 1, 5, 22, 0), False),
        (OFFICE_NEW_YORK, utc(2026, 1, 6, 15, 0), False),  # Tuesday
        (LAUNCH, utc(2026, 3, 10, 7, 59, 59), False),
        (LAUNCH, utc(2026, 3, 10, 8, 0), True),
        (LAUNCH, utc(2026, 3, 10, 19, 59, 59), True),
        (LAUNCH, utc(2026, 3, 10, 20, 0), False),
    ],
)
def test_window_boundaries(data: dict[str, Any], now: datetime, is_open: bool) -> None:
    assert bool(open_windows((window(data),), now)) is is_open


def test_every_open_window_is_reported() -> None:
    windows = (window(WEEKEND_BERLIN), window(LAUNCH), window(OFFICE_NEW_YORK))
    found = open_windows(windows, utc(2026, 3, 7, 12, 0))
    assert found == [
        "freeze window 'weekend' is open (sat, sun 00:00-24:00 Europe/Berlin; local time Sat 13:00)"
    ]
    both = open_windows(
        (window({**LAUNCH, "name": "a"}), window({**LAUNCH, "name": "b"})), utc(2026, 3, 10, 9)
    )
    assert [f.split("'")[1] for f in both] == ["a", "b"]


def test_local_time_out_of_range_fails_closed() -> None:
    kiribati = {
        **OFFICE_NEW_YORK,
        "weekly": {**OFFICE_NEW_YORK["weekly"], "timezone": "Pacific/Kiritimati"},
    }
    found = open_windows((window(kiribati),), datetime.max.replace(tzinfo=UTC))
    assert found and "treated as open" in found[0]


def test_engine_denies_during_a_freeze_and_names_it() -> None:
    loaded = policy_with(spec__freezeWindows=[WEEKEND_BERLIN])
    action = ScaleAction(target=WEB, from_replicas=4, to_replicas=6)
    frozen = evaluate(plan(action), loaded, facts(), (), utc(2026, 3, 7, 12))
    assert (frozen.verdict, frozen.codes) == (Verdict.DENY, (ReasonCode.CHANGE_FREEZE,))
    assert "'weekend'" in frozen.reasons[0].detail
    weekday = evaluate(plan(action), loaded, facts(), (), utc(2026, 3, 4, 12))
    assert weekday.verdict is Verdict.ALLOW
