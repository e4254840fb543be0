"""What the API server rejects with 422 Invalid (or 400) before it stores a write.

Only the rules a remediation can trip are modelled, with the API server's wording:

- Deployment / ReplicaSet: ``spec.replicas`` an integer >= 0; a selector; template labels
  that match ``selector.matchLabels``; at least one container, each with a name and an
  image; the selector is immutable (apps/v1).
- HorizontalPodAutoscaler (autoscaling/v2): ``minReplicas`` >= 1 when set, ``maxReplicas``
  >= 1 and >= ``minReplicas``, a ``scaleTargetRef`` with kind and name.
- Lease (coordination/v1): ``leaseDurationSeconds`` > 0, ``leaseTransitions`` >= 0, and
  MicroTimes that parse.
- Scale (autoscaling/v1): ``spec.replicas`` an integer >= 0.
- Every object: string labels and annotations, the name and namespace of the URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from controller.sim.kube_api.resources import ResourceType, Route
from controller.sim.kube_api.status import Cause, bad_request, invalid, invalid_value, required

Obj = dict[str, Any]


def _spec(obj: Obj) -> Obj:
    return _obj(obj.get("spec"))


def _obj(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _int_field(value: Any, path: str) -> int | None:
    """An integer field; a string or a float is a decode error (400), not a 422."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        kind = type(value).__name__
        raise bad_request(f"json: cannot unmarshal {kind} into {path} of type int32")
    return value


def _at_least(value: int | None, floor: int, path: str, causes: list[Cause]) -> None:
    if value is not None and value < floor:
        causes.append(invalid_value(path, value, f"must be greater than or equal to {floor}"))


def _check_strings(obj: Obj) -> None:
    meta = obj.get("metadata") or {}
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise bad_request(f"json: cannot unmarshal metadata.{field}: values must be strings")


def _workload(obj: Obj, current: Obj | None) -> list[Cause]:
    spec, causes = _spec(obj), list[Cause]()
    _at_least(_int_field(spec.get("replicas"), "spec.replicas"), 0, "spec.replicas", causes)
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector:
        causes.append(required("spec.selector"))
        selector = {}
    template = _obj(spec.get("template"))
    labels = _obj(template.get("metadata")).get("labels") or {}
    wanted = selector.get("matchLabels") or {}
    if wanted and any(labels.get(k) != v for k, v in wanted.items()):
        why = "`selector` does not match template `labels`"
        causes.append(invalid_value("spec.template.metadata.labels", labels, why))
    causes.extend(_containers(_obj(template.get("spec"))))
    if current is not None and _spec(current).get("selector") != spec.get("selector"):
        causes.append(invalid_value("spec.selector", spec.get("selector"), "field is immutable"))
    return causes


def _containers(pod_spec: Obj) -> list[Cause]:
    containers = pod_spec.get("containers")
    path = "spec.template.spec.containers"
    if not isinstance(containers, list) or not containers:
        return [required(path)]
    causes: list[Cause] = []
    for index, container in enumerate(containers):
        entry = container if isinstance(container, dict) else {}
        for field in ("name", "image"):
            if not entry.get(field):
                causes.append(required(f"{path}[{index}].{field}"))
    return causes


def _hpa(obj: Obj, current: Obj | None) -> list[Cause]:
    spec, causes = _spec(obj), list[Cause]()
    low = _int_field(spec.get("minReplicas"), "spec.minReplicas")
    high = _int_field(spec.get("maxReplicas"), "spec.maxReplicas")
    _at_least(low, 1, "spec.minReplicas", causes)
    if high is None:
        causes.append(required("spec.maxReplicas"))
    else:
        _at_least(high, 1, "spec.maxReplicas", causes)
        if low is not None and high >= 1 and high < low:
            causes.append(
                invalid_value(
                    "spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"
                )
            )
    target = _obj(spec.get("scaleTargetRef"))
    for field in ("kind", "name"):
        if not target.get(field):
            causes.append(required(f"spec.scaleTargetRef.{field}"))
    return causes


def _lease(obj: Obj, current: Obj | None) -> list[Cause]:
    """coordination/v1 ``ValidateLeaseSpec``: a positive duration, transitions >= 0, and
    MicroTimes (``acquireTime``/``renewTime``) that parse (400 otherwise, a decode error)."""
    spec, causes = _spec(obj), list[Cause]()
    duration = _int_field(spec.get("leaseDurationSeconds"), "spec.leaseDurationSeconds")
    if duration is not None and duration <= 0:
        why = "must be greater than 0"
        causes.append(invalid_value("spec.leaseDurationSeconds", duration, why))
    transitions = _int_field(spec.get("leaseTransitions"), "spec.leaseTransitions")
    _at_least(transitions, 0, "spec.leaseTransitions", causes)
    for field in ("acquireTime", "renewTime"):
        value = spec.get(field)
        if value is not None and not (isinstance(value, str) and MICRO_TIME.fullmatch(value)):
            raise bad_request(f"json: cannot unmarshal spec.{field}: {value!r} is not RFC 3339")
    return causes


MICRO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
"""``metav1.MicroTime`` on the wire: RFC 3339 with optional fractional seconds."""


_RULES: dict[str, Callable[[Obj, Obj | None], list[Cause]]] = {
    "deployments": _workload,
    "replicasets": _workload,
    "horizontalpodautoscalers": _hpa,
    "leases": _lease,
}


def check_identity(route: Route, obj: Obj) -> None:
    """The body names the object of the URL (400 otherwise, as the API server answers)."""
    if not isinstance(obj, dict):
        raise bad_request("the body must be a JSON object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise bad_request("metadata: the object has no metadata")
    if meta.get("name") != route.name:
        raise bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({route.name})"
        )
    if route.resource.namespaced and meta.get("namespace") not in (None, route.namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def validate(resource: ResourceType, obj: Obj, current: Obj | None) -> None:
    """Raise the API server's 422 (or 400) for ``obj``; pass when it would be stored."""
    _check_strings(obj)
    rule = _RULES.get(resource.plural)
    causes = rule(obj, current) if rule else []
    if causes:
        name = str((obj.get("metadata") or {}).get("name") or "")
        raise invalid(resource.kind, resource.group, name, causes)


def validate_scale(obj: Obj, name: str) -> int:
    """The replicas of an autoscaling/v1 Scale body; 422 for a negative count."""
    if not isinstance(obj, dict):
        raise bad_request("the body must be a JSON object")
    replicas = _int_field(_spec(obj).get("replicas"), "spec.replicas")
    causes: list[Cause] = []
    _at_least(replicas, 0, "spec.replicas", causes)
    if causes:
        raise invalid("Scale", "autoscaling", name, causes)
    return replicas or 0
