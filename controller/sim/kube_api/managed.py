"""``metadata.managedFields``: which field manager last changed which field.

Every write records an entry ``{"manager", "operation": "Update", "apiVersion", "time",
"fieldsType": "FieldsV1", "fieldsV1": {...}, ["subresource"]}`` the way the API server does
for non-apply requests: the manager named by ``?fieldManager=`` (else the User-Agent up to
its first ``/``) takes ownership of every field whose value the write changed, and the
previous owners lose those fields (an entry left with none is dropped). From the
Server-Side Apply docs: "whenever a field's value does change, ownership moves from its
current manager to the manager making the change".

``fieldsV1`` is the API's nested set: ``{"f:spec": {"f:replicas": {}}}``; list elements
with a key are ``k:{"name":"app"}``; other lists are owned as a whole.
"""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]
Path = tuple[str, ...]

_VOLATILE_META = frozenset(
    {"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"}
)
_ELEMENT_KEYS = ("name", "mountPath", "containerPort", "type", "uid", "ip", "devicePath")
_MISSING = object()


def default_manager(user_agent: str | None) -> str:
    """The manager of a write without ``fieldManager``: the User-Agent before its first /."""
    agent = (user_agent or "").strip()
    return agent.split("/", 1)[0][:128] if agent else "unknown"


def _element_token(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    for key in _ELEMENT_KEYS:
        if key in item and not isinstance(item[key], dict | list):
            return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))
    return None


def _leaves(value: Any, prefix: Path, out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _leaves(child, (*prefix, f"f:{key}"), out)
        return
    if isinstance(value, list) and value:
        tokens = [_element_token(item) for item in value]
        if all(tokens) and len(set(tokens)) == len(tokens):
            for token, item in zip(tokens, value, strict=True):
                _leaves(item, (*prefix, str(token)), out)
            return
    out[prefix] = value


def _owned_leaves(obj: Obj) -> dict[Path, Any]:
    """Every leaf of the fields a write can own (no status, no server-set metadata)."""
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ("status", "apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, dict):
            kept = {k: v for k, v in value.items() if k not in _VOLATILE_META}
            _leaves(kept, ("f:metadata",), out)
        else:
            _leaves(value, (f"f:{key}",), out)
    return out


def changed_paths(old: Obj, new: Obj) -> set[Path]:
    """The leaf paths whose value differs between ``old`` and ``new`` (added and removed too)."""
    before, after = _owned_leaves(old), _owned_leaves(new)
    return {
        path
        for path in before.keys() | after.keys()
        if before.get(path, _MISSING) != after.get(path, _MISSING)
    }


def to_fields(paths: set[Path]) -> Obj:
    """A set of paths as a ``fieldsV1`` tree."""
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for token in path:
            node = node.setdefault(token, {})
    return tree


def from_fields(tree: Any, prefix: Path = ()) -> set[Path]:
    """The leaf paths of a ``fieldsV1`` tree."""
    if not isinstance(tree, dict) or not tree:
        return {prefix} if prefix else set()
    paths: set[Path] = set()
    for token, child in tree.items():
        if token != ".":
            paths |= from_fields(child, (*prefix, token))
    return paths


def _covers(owned: Path, changed: Path) -> bool:
    """Whether a change at ``changed`` touches the owned ``owned`` (one contains the other)."""
    shorter = min(len(owned), len(changed))
    return owned[:shorter] == changed[:shorter]


def record_update(
    old: Obj, new: Obj, *, manager: str, api_version: str, subresource: str | None, time: str
) -> None:
    """Set ``new``'s managedFields after an Update by ``manager`` (in place)."""
    changed = changed_paths(old, new)
    listed = (old.get("metadata") or {}).get("managedFields") or []
    entries = [e for e in listed if isinstance(e, dict)]
    if not changed:
        new.setdefault("metadata", {})["managedFields"] = entries
        return
    kept: list[Obj] = []
    mine: set[Path] = set()
    for entry in entries:
        owned = from_fields(entry.get("fieldsV1"))
        same = (entry.get("manager"), entry.get("operation"), entry.get("subresource")) == (
            manager, "Update", subresource,
        )  # fmt: skip
        if same:
            mine = owned
            continue
        remaining = {p for p in owned if not any(_covers(p, c) for c in changed)}
        if remaining:
            kept.append({**entry, "fieldsV1": to_fields(remaining)})
    ours: Obj = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields(mine | changed),
    }
    if subresource:
        ours["subresource"] = subresource
    new.setdefault("metadata", {})["managedFields"] = [*kept, ours]


def owners(obj: Obj, path: Path) -> list[str]:
    """The managers owning ``path`` (``("f:spec", "f:replicas")``) or a field inside it."""
    found = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict):
            continue
        if any(p[: len(path)] == path for p in from_fields(entry.get("fieldsV1"))):
            found.append(str(entry.get("manager")))
    return found
