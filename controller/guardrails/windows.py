"""Whether a freeze window is open at a given moment (pure; ``now`` is an argument).

Weekly windows are judged in their own timezone's wall-clock time, so a "Saturday 00:00 to
24:00 Europe/Berlin" window follows daylight-saving changes. A window whose timezone cannot be
resolved, or whose local time cannot be computed, counts as open: fail closed. The loader
already rejects unknown timezones, so that only guards policies built without the loader.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.guardrails.policy import FreezeWindow, Weekday, WeeklySchedule


def open_windows(windows: tuple[FreezeWindow, ...], now: datetime) -> list[str]:
    """A description of every window open at ``now`` (empty: no freeze)."""
    found: list[str] = []
    for window in windows:
        verdict = _open(window, now)
        if verdict is not None:
            found.append(f"freeze window {window.name!r} is open ({verdict})")
    return found


def _open(window: FreezeWindow, now: datetime) -> str | None:
    """Why ``window`` is open at ``now``, or None when it is closed."""
    if window.weekly is not None:
        return _weekly_open(window.weekly, now)
    if window.from_ is not None and window.to is not None and window.from_ <= now < window.to:
        return f"{window.from_.isoformat()} to {window.to.isoformat()}"
    return None


def _weekly_open(schedule: WeeklySchedule, now: datetime) -> str | None:
    """Judge the schedule in its own timezone's wall-clock time (DST-aware)."""
    described = f"{', '.join(schedule.days)} {schedule.start}-{schedule.end} {schedule.timezone}"
    try:
        local = now.astimezone(ZoneInfo(schedule.timezone))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"{described}: unknown timezone, treated as open"
    except OverflowError:
        return f"{described}: time out of range, treated as open"
    if Weekday.of(local) not in schedule.days:
        return None
    start, end = schedule.minutes()
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    if start * 60 <= seconds < end * 60:
        return f"{described}; local time {local:%a %H:%M}"
    return None
