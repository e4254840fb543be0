"""Label and field selectors as ``?labelSelector=`` and ``?fieldSelector=`` carry them.

Label selectors follow ``k8s.io/apimachinery/pkg/labels``: requirements joined by commas,
each ``key``, ``!key``, ``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)`` or
``key notin (a,b)``; every requirement must hold. An unreadable selector is a 400.
Field selectors: ``metadata.name`` and ``metadata.namespace`` with ``=``, ``==`` or ``!=``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from controller.sim.kube_api.status import bad_request

Matcher = Callable[[Mapping[str, Any]], bool]
"""A predicate over one object."""

_SET = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")


def _split(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Callable[[Mapping[str, str]], bool]:
    found = _SET.match(text)
    if found:
        key, op, raw = found.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    found = _EQUALITY.match(text)
    if found:
        key, op, value = found.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    found = _EXISTS.match(text)
    if found:
        negated, key = found.groups()
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    raise bad_request(f"unable to parse requirement: {text.strip()!r}")


def label_matcher(selector: str) -> Matcher:
    """A predicate for ``labelSelector`` (an empty selector matches everything)."""
    checks = [_requirement(part) for part in _split(selector)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def field_matcher(selector: str) -> Matcher:
    """A predicate for ``fieldSelector`` over ``metadata.name`` / ``metadata.namespace``."""
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for part in _split(selector):
        found = re.match(r"^\s*metadata\.(name|namespace)\s*(==|!=|=)\s*([^,]*?)\s*$", part)
        if found is None:
            raise bad_request(f'field label not supported: "{part.strip()}"')
        field, op, value = found.groups()
        checks.append(_field_check(field, op == "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all(check(obj) for check in checks)

    return matches


def _field_check(field: str, negated: bool, value: str) -> Callable[[Mapping[str, Any]], bool]:
    def check(obj: Mapping[str, Any]) -> bool:
        actual = str((obj.get("metadata") or {}).get(field) or "")
        return (actual != value) if negated else (actual == value)

    return check


def field_name(selector: str) -> str | None:
    """The name a ``metadata.name=`` selector picks (a watch of one object), or None."""
    found = re.match(r"^\s*metadata\.name\s*==?\s*([^,\s]+)\s*$", selector or "")
    return found.group(1) if found else None
