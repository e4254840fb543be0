"""Shared building blocks for the domain models: a strict frozen base, UTC times, durations.

Every value object is immutable and rejects unknown fields, so a typo in a file fails
loudly instead of being silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"^\s*(?:{_NUMBER}h)?\s*(?:{_NUMBER}m)?\s*(?:{_NUMBER}s)?\s*$")


class FrozenModel(BaseModel):
    """Immutable value object that rejects unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone (for example 2026-03-01T12:00:00Z)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware timestamp, normalised to UTC."""


def parse_duration(value: object) -> timedelta:
    """Accept ``90``, ``90.5``, ``"90s"``, ``"10m"``, ``"1h30m"`` or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("duration must be a number of seconds or a string like '10m'")
    if isinstance(value, int | float):
        try:
            return timedelta(seconds=float(value))
        except (OverflowError, ValueError) as exc:  # 1e12 s, NaN: not a duration
            raise ValueError(f"invalid duration {value!r}: out of range") from exc
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            try:
                return timedelta(hours=hours, minutes=minutes, seconds=seconds)
            except OverflowError as exc:
                raise ValueError(f"invalid duration {value!r}: out of range") from exc
    raise ValueError(f"invalid duration {value!r}: use seconds or a string like '30s', '10m', '1h'")


def _non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("duration must not be negative")
    return value


def format_duration(value: timedelta) -> str:
    """Render a duration compactly (``"1h30m"``, ``"45s"``); the inverse of parse_duration."""
    total = int(round(value.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_non_negative),
    PlainSerializer(format_duration, return_type=str),
]
"""A non-negative duration written as seconds or ``"30s"``/``"10m"``/``"1h"``."""


def canonical_json(data: Any) -> str:
    """Serialise ``data`` deterministically (sorted keys, no whitespace) for hashing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def epoch(value: datetime) -> float:
    """Seconds since the Unix epoch for an aware datetime."""
    return value.timestamp()


def from_epoch(seconds: float) -> datetime:
    """Aware UTC datetime from seconds since the Unix epoch."""
    return datetime.fromtimestamp(seconds, tz=UTC)
