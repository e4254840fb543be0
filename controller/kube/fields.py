"""Reading fields of Kubernetes objects kept as the API's JSON (plain dicts), defensively.

Objects come from the API server, but labels, annotations and event messages are written
by anyone with access to the cluster: every reader here tolerates missing or mistyped
fields and returns None instead of raising.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty mapping."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> Iterator[Mapping[str, Any]]:
    """The JSON objects of a list (anything else yields nothing)."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``metadata`` of an object."""
    return mapping(obj.get("metadata"))


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """String labels of an object."""
    return {str(k): str(v) for k, v in mapping(meta(obj).get("labels")).items()}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """String annotations of an object."""
    return {str(k): str(v) for k, v in mapping(meta(obj).get("annotations")).items()}


def name_of(obj: Mapping[str, Any]) -> str:
    """``metadata.name`` ("" when missing)."""
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    """``metadata.namespace`` ("" for cluster-scoped objects)."""
    return str(meta(obj).get("namespace") or "")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``...Z`` or with offset) as aware UTC, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_int(value: Any) -> int | None:
    """An integer from a JSON number or a numeric string (annotations), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity (``500m``, ``1.5``, ``128Mi``, ``1e3``, ``2G``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    number, suffix = match.groups()
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return amount * _BINARY[suffix]
    if suffix in _DECIMAL:
        return amount * _DECIMAL[suffix]
    return None


def owned_by(obj: Mapping[str, Any], kind: str, owner: Mapping[str, Any]) -> bool:
    """Whether ``obj`` has an ownerReference to ``owner`` (by uid, else by name)."""
    uid = meta(owner).get("uid")
    name = name_of(owner)
    for ref in items(meta(obj).get("ownerReferences")):
        if ref.get("kind") != kind:
            continue
        if uid and ref.get("uid"):
            if ref.get("uid") == uid:
                return True
        elif ref.get("name") == name:
            return True
    return False


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The status condition of type ``kind``, or None."""
    for entry in items(mapping(obj.get("status")).get("conditions")):
        if entry.get("type") == kind:
            return entry
    return None


def containers(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Containers that run for the pod's whole life: regular ones and native sidecars
    (init containers with ``restartPolicy: Always``), whose requests also count."""
    regular = list(items(pod_spec.get("containers")))
    sidecars = [
        c for c in items(pod_spec.get("initContainers")) if c.get("restartPolicy") == "Always"
    ]
    return regular + sidecars


def first_image(pod_spec: Mapping[str, Any]) -> str | None:
    """Image of the first regular container, or None."""
    for container in items(pod_spec.get("containers")):
        image = container.get("image")
        return str(image) if image else None
    return None


def pod_spec_of(template_owner: Mapping[str, Any]) -> Mapping[str, Any]:
    """``spec.template.spec`` of a Deployment or ReplicaSet."""
    return mapping(mapping(mapping(template_owner.get("spec")).get("template")).get("spec"))


def clean_text(value: Any, limit: int) -> str:
    """Untrusted text (event messages, annotations) without control characters, cut to
    ``limit`` characters so it always fits the model's field."""
    text = _CONTROL.sub(" ", str(value or "")).strip()
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"
