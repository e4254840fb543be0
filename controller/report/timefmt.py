"""Time formatting for reports: offsets from the reference time, and absolute UTC.

Readers of a postmortem think in "two minutes after onset", so every table shows times relative
to ``ReplayResult.reference_time``; the absolute UTC time stays available next to it for
correlating with other tools.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_offset(seconds: float) -> str:
    """Signed offset with fixed-width parts: ``"-2m30s"``, ``"+0s"``, ``"+4m00s"``, ``"+1h05m00s"``.

    Rounded to whole seconds; anything that rounds to zero is ``"+0s"`` (never ``"-0s"``).
    """
    total = round(seconds)
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s"
    return f"{sign}{secs}s"


def format_relative(at: datetime, reference: datetime) -> str:
    """``at`` as an offset from ``reference`` (see format_offset)."""
    return format_offset((at - reference).total_seconds())


def format_axis(seconds: float) -> str:
    """Compact offset for chart axes: ``"-10m"``, ``"0"``, ``"+5m"``, ``"+1h30m"``, ``"+45s"``."""
    total = round(seconds)
    if total == 0:
        return "0"
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return sign + "".join(parts)


def format_utc(at: datetime) -> str:
    """Absolute time in UTC, ISO 8601 with a ``Z``: ``"2026-03-01T12:03:00Z"``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_clock(at: datetime) -> str:
    """Time of day in UTC (``"12:03:00"``) for dense tables whose header carries the date."""
    return at.astimezone(UTC).strftime("%H:%M:%S")
