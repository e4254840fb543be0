"""Decode an incident file's JSON text with each series validated as soon as it is read.

``json.loads`` of a day of 15 s samples for 100 workloads builds 7 M Python floats (about
220 MB) before validation packs them into arrays, and pydantic's own JSON parser builds an
equally large tree first; either sets the replay's peak memory. This walks the top-level
object with the standard library's own decoder (``raw_decode``, ``scanstring``) and hands
every element of ``series`` to ``MetricSeries.model_validate`` at once, so only one series'
numbers exist as Python objects at any time.

Why by hand: no maintained incremental JSON parser is a dependency (ijson would be a new
one for ~60 lines), and this walker only has to be right for valid files: anything it does
not expect raises StreamingDecodeError and the caller falls back to the plain path, whose
errors name line, column and JSON path. Values other than ``series`` decode exactly as
``json.loads`` decodes them (same decoder; the last of duplicate keys wins).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from controller.models.incident_file import MetricSeries

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_scanstring: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009
"""The standard library's string scanner (``JSONDecoder`` uses it; typeshed omits it)."""


class StreamingDecodeError(ValueError):
    """The text is not what the lean path handles; decode it the plain way."""


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return pos if match is None else match.end()


def _expect(text: str, pos: int, char: str) -> int:
    if text[pos : pos + 1] != char:
        raise StreamingDecodeError(f"expected {char!r} at {pos}")
    return pos + 1


def _value(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise StreamingDecodeError(str(exc)) from exc


def _series(text: str, pos: int) -> tuple[list[MetricSeries], int]:
    """The ``series`` array from its ``[``: each element validated as soon as decoded."""
    pos = _skip(text, _expect(text, pos, "["))
    found: list[MetricSeries] = []
    if text[pos : pos + 1] == "]":
        return found, pos + 1
    while True:
        element, pos = _value(text, pos)
        found.append(MetricSeries.model_validate(element))
        pos = _skip(text, pos)
        if text[pos : pos + 1] == "]":
            return found, pos + 1
        pos = _skip(text, _expect(text, pos, ","))


def _member(text: str, pos: int) -> tuple[str, Any, int]:
    """One ``"key": value`` of the top-level object."""
    key, pos = _scanstring(text, _expect(text, pos, '"'))
    pos = _skip(text, _expect(text, _skip(text, pos), ":"))
    if key == "series" and text[pos : pos + 1] == "[":
        series, pos = _series(text, pos)
        return key, series, pos
    value, pos = _value(text, pos)
    return key, value, pos


def decode_streaming(text: str) -> dict[str, Any]:
    """The top-level object, with ``series`` already a list of MetricSeries.

    Raises StreamingDecodeError for anything but a JSON object, and pydantic's
    ValidationError for an invalid series (the caller re-reads the plain way either way).
    """
    pos = _skip(text, _expect(text, _skip(text, 0), "{"))
    decoded: dict[str, Any] = {}
    if text[pos : pos + 1] != "}":
        while True:
            key, value, pos = _member(text, pos)
            decoded[key] = value
            pos = _skip(text, pos)
            if text[pos : pos + 1] != ",":
                break
            pos = _skip(text, pos + 1)
    pos = _skip(text, _expect(text, pos, "}"))
    if pos != len(text):
        raise StreamingDecodeError(f"extra data at {pos}")
    return decoded
