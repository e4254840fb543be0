"""A custom resource's structural schema, enforced as the API server does: prune, default, validate.

Why by hand and not ``jsonschema``: the API server does three things with a CRD's
``openAPIV3Schema`` that a JSON Schema validator does not: it *prunes* fields the schema does
not name (unless ``x-kubernetes-preserve-unknown-fields``), applies ``default`` values, and
reports each violation as a ``metav1.StatusCause`` with the field path and the wording of
``k8s.io/apiextensions-apiserver`` (``spec.action: Unsupported value: "delete": supported
values: "scale", ...``). A client's error handling meets those causes, so the fake must
produce them; ``jsonschema`` would also become a runtime dependency of the controller package
for the sake of a test double. The subset is what a CRD of this project uses:

- ``type`` (object, array, string, integer, number, boolean), ``nullable``,
  ``x-kubernetes-int-or-string``, ``x-kubernetes-preserve-unknown-fields``;
- ``properties``, ``required``, ``additionalProperties`` (a schema or ``false``), ``items``;
- ``enum``, ``minimum``/``maximum``, ``minLength``/``maxLength``, ``pattern``,
  ``minItems``/``maxItems``, ``format: date-time``, ``default``;
- ``x-kubernetes-list-type: map`` with ``x-kubernetes-list-map-keys`` (duplicates refused);
- ``x-kubernetes-validations`` with two CEL forms only: ``self == oldSelf`` (immutable once
  set) and ``!has(oldSelf.f) || has(self.f)`` (may not be removed). Both are transition
  rules, checked on updates where the old object has the field. Any other rule makes
  ``check_supported`` refuse the CRD at install time: the fake never ignores a rule silently.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from controller.sim.kube_api.status import Cause

Obj = dict[str, Any]
Schema = dict[str, Any]

IMMUTABLE = re.compile(r"^\s*self\s*==\s*oldSelf\s*$")
NOT_REMOVED = re.compile(r"^\s*!has\(oldSelf\.(\w+)\)\s*\|\|\s*has\(self\.(\w+)\)\s*$")
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_ABSENT = object()


def check_supported(schema: Schema, path: str = "") -> list[str]:
    """Every CEL rule of ``schema`` this fake cannot evaluate (empty: all supported)."""
    problems = []
    for rule in schema.get("x-kubernetes-validations") or []:
        text = str(rule.get("rule", ""))
        match = NOT_REMOVED.match(text)
        if not IMMUTABLE.match(text) and not (match and match.group(1) == match.group(2)):
            problems.append(f"{path or '(root)'}: unsupported CEL rule {text!r}")
    for name, child in _children(schema):
        problems.extend(check_supported(child, f"{path}.{name}" if path else name))
    return problems


def not_structural(schema: Schema, path: str = "") -> list[str]:
    """Why ``schema`` is not structural: every node must state a ``type`` (apiextensions v1)."""
    problems = []
    free = schema.get("x-kubernetes-int-or-string") or (
        schema.get("x-kubernetes-preserve-unknown-fields") and "type" not in schema
    )
    if "type" not in schema and not free:
        problems.append(f"{path or '(root)'}: type is required")
    if "properties" in schema and isinstance(schema.get("additionalProperties"), dict):
        problems.append(f"{path or '(root)'}: properties and additionalProperties both set")
    for name, child in _children(schema):
        problems.extend(not_structural(child, f"{path}.{name}" if path else name))
    return problems


def _children(schema: Schema) -> Iterator[tuple[str, Schema]]:
    yield from (schema.get("properties") or {}).items()
    if isinstance(schema.get("items"), dict):
        yield "items", schema["items"]
    if isinstance(schema.get("additionalProperties"), dict):
        yield "additionalProperties", schema["additionalProperties"]


# ----- admission: prune, default, validate ---------------------------------------------------


def admit(schema: Schema, obj: Obj, old: Obj | None) -> tuple[Obj, list[Cause]]:
    """``obj`` pruned and defaulted by ``schema``, and every violation (``old``: the update's
    previous object, for transition rules). ``metadata`` is the server's: never pruned."""
    new = copy.deepcopy(obj)
    metadata = new.pop("metadata", None)
    new = _prune(schema, new)
    if metadata is not None:
        new["metadata"] = metadata
    causes: list[Cause] = []
    _validate(schema, new, old, "", causes, root=True)
    return new, causes


def _prune(schema: Schema, value: Any) -> Any:
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
            return value
        properties: Schema = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        kept: Obj = {}
        for key, child in value.items():
            if key in properties:
                kept[key] = _prune(properties[key], child)
            elif isinstance(extra, dict):
                kept[key] = _prune(extra, child)
            elif schema.get("x-kubernetes-preserve-unknown-fields") or extra is True:
                kept[key] = child
        for key, child_schema in properties.items():
            if key not in kept and "default" in child_schema:
                kept[key] = copy.deepcopy(child_schema["default"])
        return kept
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(schema["items"], item) for item in value]
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "unknown"


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return f'"{_type_name(value)}"'


def _invalid(path: str, value: Any, why: str) -> Cause:
    return Cause(path, f"Invalid value: {_shown(value)}: {why}")


def _type_ok(schema: Schema, value: Any) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    wanted = schema.get("type")
    if wanted is None:
        return True
    if isinstance(value, bool) and wanted in ("integer", "number"):
        return False
    return isinstance(value, _TYPES.get(str(wanted), (object,)))


def _validate(
    schema: Schema, value: Any, old: Any, path: str, causes: list[Cause], *, root: bool = False
) -> None:
    if value is None and schema.get("nullable"):
        return
    if not _type_ok(schema, value):
        wanted = "int-or-string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        why = f"{path or 'body'} in body must be of type {wanted}: {_shown(_type_name(value))}"
        causes.append(Cause(path, f"Invalid value: {_shown(_type_name(value))}: {why}"))
        return
    before = len(causes)
    if isinstance(value, dict):
        _object(schema, value, old if isinstance(old, dict) else None, path, causes, root)
    elif isinstance(value, list):
        _array(schema, value, old, path, causes)
    else:
        _scalar(schema, value, path, causes)
    if len(causes) == before and old is not _ABSENT and old is not None:
        _rules(schema, value, old, path, causes)


def _object(
    schema: Schema, value: Obj, old: Obj | None, path: str, causes: list[Cause], root: bool
) -> None:
    for name in schema.get("required") or []:
        if name not in value:
            causes.append(Cause(_join(path, name), "Required value", "FieldValueRequired"))
    properties: Schema = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, child in value.items():
        if root and key == "metadata":
            continue
        child_schema = properties.get(key, extra if isinstance(extra, dict) else None)
        if child_schema is None:
            continue
        before = _ABSENT if old is None or key not in old else old[key]
        _validate(child_schema, child, before, _join(path, key), causes)


def _array(schema: Schema, value: list[Any], old: Any, path: str, causes: list[Cause]) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        message = f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
        causes.append(Cause(path, message, "FieldValueTooMany"))
    if "minItems" in schema and len(value) < schema["minItems"]:
        why = f"{path} in body should have at least {schema['minItems']} items"
        causes.append(_invalid(path, value, why))
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(items, item, _ABSENT, f"{path}[{index}]", causes)
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if schema.get("x-kubernetes-list-type") == "map" and keys:
        seen: set[tuple[Any, ...]] = set()
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = tuple(repr(item.get(k)) for k in keys)
            if key in seen:
                shown = ", ".join(f"{k}: {item.get(k)!r}" for k in keys)
                causes.append(Cause(f"{path}[{index}]", f"Duplicate value: {{{shown}}}",
                                    "FieldValueDuplicate"))  # fmt: skip
            seen.add(key)


def _scalar(schema: Schema, value: Any, path: str, causes: list[Cause]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(_shown(v) for v in schema["enum"])
        message = f"Unsupported value: {_shown(value)}: supported values: {allowed}"
        causes.append(Cause(path, message, "FieldValueNotSupported"))
    if isinstance(value, str):
        _string(schema, value, path, causes)
    elif isinstance(value, int | float):
        if "minimum" in schema and value < schema["minimum"]:
            why = f"{path} in body should be greater than or equal to {schema['minimum']}"
            causes.append(_invalid(path, value, why))
        if "maximum" in schema and value > schema["maximum"]:
            why = f"{path} in body should be less than or equal to {schema['maximum']}"
            causes.append(_invalid(path, value, why))


def _string(schema: Schema, value: str, path: str, causes: list[Cause]) -> None:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        message = f"Too long: may not be longer than {schema['maxLength']}"
        causes.append(Cause(path, message, "FieldValueTooLong"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        why = f"{path} in body should be at least {schema['minLength']} chars long"
        causes.append(_invalid(path, value, why))
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        causes.append(_invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))
    if schema.get("format") == "date-time" and not _is_date_time(value):
        why = f"{path} in body must be of type date-time: {_shown(value)}"
        causes.append(_invalid(path, value, why))


def _is_date_time(text: str) -> bool:
    """RFC 3339 with a timezone, as ``strfmt.DateTime`` accepts it."""
    if not re.match(
        r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", text
    ):
        return False
    try:
        datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _rules(schema: Schema, value: Any, old: Any, path: str, causes: list[Cause]) -> None:
    """The transition rules (``check_supported`` guarantees only the two known forms)."""
    for rule in schema.get("x-kubernetes-validations") or []:
        text = str(rule.get("rule", ""))
        message = str(rule.get("message") or f"failed rule: {text}")
        if IMMUTABLE.match(text):
            broken = value != old
        else:
            match = NOT_REMOVED.match(text)
            field = match.group(1) if match else ""
            broken = isinstance(old, dict) and field in old and field not in (value or {})
        if broken:
            causes.append(_invalid(path, value, message))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
