"""The three PATCH formats of the Kubernetes API, applied to plain JSON objects.

- ``application/merge-patch+json``: RFC 7386. Objects merge key by key, ``null`` deletes a
  key, every other value (lists included) replaces.
- ``application/strategic-merge-patch+json``: Kubernetes' own format for built-in types.
  Like a merge patch, except that lists carrying a *patch merge key* merge element by
  element (``containers`` by ``name``, ``volumeMounts`` by ``mountPath`` ...), and the
  directives ``$patch: replace|delete|merge``, ``$retainKeys``,
  ``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>`` are understood.
  Custom resources have no such schema: the API server answers 415 for them.
- ``application/json-patch+json``: RFC 6902 (``add``, ``remove``, ``replace``, ``move``,
  ``copy``, ``test``); a failing operation is a 422 and changes nothing.

Server-side apply (``application/apply-patch+yaml``) is not implemented by this fake: 415.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from controller.sim.kube_api.resources import ResourceType
from controller.sim.kube_api.status import ApiError, bad_request, unsupported_media_type

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "resourceClaims": "name",
}
"""Patch merge keys of the lists a pod template and object metadata carry (by field name)."""

MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})
"""Lists of scalars whose patch strategy is ``merge`` (a union), not ``replace``."""

_DIRECTIVE = "$patch"
_RETAIN = "$retainKeys"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_ORDER = "$setElementOrder/"


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header, without parameters, lower case."""
    return (header or "").split(";", 1)[0].strip().lower()


def apply_patch(resource: ResourceType, content_type: str, current: Any, raw: bytes) -> Any:
    """``current`` with the patch in ``raw`` applied; raises ApiError (400, 415, 422)."""
    kind = media_type(content_type)
    accepted = [JSON_PATCH, MERGE_PATCH] + ([STRATEGIC_MERGE_PATCH] if resource.strategic else [])
    if kind not in accepted:
        raise unsupported_media_type(kind, accepted)
    try:
        patch = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        return json_patch(current, patch)
    if not isinstance(patch, dict):
        raise bad_request("a merge patch must be a JSON object")
    if kind == MERGE_PATCH:
        return merge_patch(current, patch)
    return strategic_merge_patch(current, patch)


# ----- RFC 7386 ---------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of ``target`` (neither argument is changed)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ----- strategic merge patch --------------------------------------------------------------


def strategic_merge_patch(target: Any, patch: dict[str, Any]) -> Any:
    """Kubernetes strategic merge patch of ``target`` (see the module docstring)."""
    merged = _merge_map(target if isinstance(target, dict) else {}, patch)
    return {} if merged is None else merged


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        replaced: dict[str, Any] = _without_directives(patch)
        return replaced
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch directive {directive!r}")
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN) or key.startswith(_ORDER):
            continue
        if key.startswith(_DELETE_FROM):
            field = key[len(_DELETE_FROM) :]
            drop = value if isinstance(value, list) else []
            result[field] = [item for item in result.get(field) or [] if item not in drop]
            continue
        _merge_key(result, key, value)
    retain = patch.get(_RETAIN)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_key(result: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        result.pop(key, None)
    elif isinstance(value, dict):
        current = result.get(key)
        merged = _merge_map(current if isinstance(current, dict) else {}, value)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    elif isinstance(value, list):
        result[key] = _merge_list(key, result.get(key), value)
    else:
        result[key] = copy.deepcopy(value)


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    existing = list(current) if isinstance(current, list) else []
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
        return [_without_directives(i) for i in patch if not _is_directive_only(i)]
    merge_key = MERGE_KEYS.get(field)
    if merge_key is None:
        if field in MERGED_PRIMITIVE_LISTS:
            return existing + [copy.deepcopy(i) for i in patch if i not in existing]
        return [_without_directives(i) for i in patch]
    result = copy.deepcopy(existing)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise bad_request(f"{field}: every element needs its merge key {merge_key!r}")
        wanted = item[merge_key]
        index = next(
            (n for n, e in enumerate(result) if isinstance(e, dict) and e.get(merge_key) == wanted),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_without_directives(item))
        else:
            merged = _merge_map(result[index], item)
            result[index] = merged if merged is not None else result[index]
    return result


def _is_directive_only(item: Any) -> bool:
    return isinstance(item, dict) and set(item) == {_DIRECTIVE}


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_directives(v)
            for k, v in value.items()
            if k not in (_DIRECTIVE, _RETAIN) and not k.startswith((_ORDER, _DELETE_FROM))
        }
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return copy.deepcopy(value)


# ----- RFC 6902 ---------------------------------------------------------------------------


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", f"the server rejected our request due to an error: {message}")


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token)
    return node, tokens[-1]


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    raise _unprocessable(f"path segment {token!r} does not exist")


def _get(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens:
        node = _child(node, token)
    return node


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return copy.deepcopy(value)
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list) and (last == "-" or _index_within(last, len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(value))
    else:
        raise _unprocessable(f"cannot add at {'/'.join(tokens)}")
    return doc


def _index_within(token: str, size: int) -> bool:
    return token.isdigit() and int(token) <= size


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise _unprocessable("cannot remove the whole document")
    parent, last = _parent(doc, tokens)
    _child(parent, last)
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
    return doc


def json_patch(target: Any, operations: list[Any]) -> Any:
    """RFC 6902 JSON patch of ``target``; any failing operation is a 422 and nothing sticks."""
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise bad_request(f"invalid JSON patch operation {operation!r}")
        doc = _operate(doc, operation)
    return doc


def _operate(doc: Any, operation: dict[str, Any]) -> Any:
    op, tokens = operation["op"], _pointer(operation.get("path"))
    if op == "add":
        return _add(doc, tokens, operation.get("value"))
    if op == "remove":
        return _remove(doc, tokens)
    if op == "replace":
        _get(doc, tokens)
        return _add(_remove(doc, tokens), tokens, operation.get("value")) if tokens else (
            copy.deepcopy(operation.get("value"))
        )  # fmt: skip
    if op in ("move", "copy"):
        source = _pointer(operation.get("from"))
        value = copy.deepcopy(_get(doc, source))
        if op == "move":
            doc = _remove(doc, source)
        return _add(doc, tokens, value)
    if op == "test":
        if _get(doc, tokens) != operation.get("value"):
            raise _unprocessable(f"testing value {operation.get('path')} failed")
        return doc
    raise bad_request(f"unknown JSON patch operation {op!r}")
