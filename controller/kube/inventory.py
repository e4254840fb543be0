"""Build a ``WorkloadInventory`` from cached Kubernetes objects: pure functions over dicts.

Decisions worth knowing (they shape what detection and the guardrails see):

- **Replicas**: ``desired`` is ``spec.replicas`` (what a scale writes and what a
  ScaleAction's ``from_replicas`` is compared with); ready/available/updated come from
  ``status``.
- **Resources are per pod: the sum over its long-running containers** (regular containers
  plus native sidecars), because saturation is measured per pod. A request falls back to
  the container's limit (the API server's own defaulting); a pod-level limit exists only
  when every container sets one. The spec is read from a running pod of the current
  ReplicaSet when the cache has one, since admission webhooks (sidecar injection,
  LimitRange defaults) change pods but not the template; otherwise from the template.
- **HPA**: an autoscaling/v2 HPA whose ``scaleTargetRef`` names the Deployment; target
  CPU utilization ``averageUtilization`` 80 becomes 0.8 (None when above 100%, which the
  model cannot hold).
- **Scaling owner**, first match wins: argo_rollouts (a Rollout ``workloadRef`` or any
  ``rollouts.argoproj.io/*`` annotation), keda (a ScaledObject targeting it; KEDA drives
  its own HPA), hpa, gitops (Argo CD / Flux labels or annotations, or a GitOps field
  manager owning ``spec.replicas``), none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from controller.kube.fields import (
    annotations_of,
    clean_text,
    containers,
    first_image,
    items,
    labels_of,
    mapping,
    meta,
    name_of,
    namespace_of,
    owned_by,
    parse_int,
    parse_quantity,
    parse_time,
    pod_spec_of,
)
from controller.models.workloads import (
    HpaSpec,
    ReplicaStatus,
    Resources,
    Revision,
    ScalingOwner,
    SloSpec,
    WorkloadInventory,
    WorkloadRef,
)

Obj = Mapping[str, Any]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
SLO_AVAILABILITY_ANNOTATION = "aiops.dev/slo-availability"
SLO_LATENCY_ANNOTATION = "aiops.dev/slo-latency-p99"
SERVICE_ANNOTATION = "aiops.dev/service"

_ARGO_CD_KEYS = ("argocd.argoproj.io/instance", "argocd.argoproj.io/tracking-id")
_FLUX_PREFIXES = ("kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")
_GITOPS_MANAGED_BY = frozenset({"argocd", "argo-cd", "flux", "fluxcd"})
_GITOPS_MANAGERS = frozenset(
    {
        "argocd-controller",
        "argocd-application-controller",
        "kustomize-controller",
        "helm-controller",
    }
)
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*$")


def workload_ref(deployment: Obj) -> WorkloadRef:
    """The WorkloadRef of a Deployment (raises ValueError on an impossible name)."""
    return WorkloadRef(namespace=namespace_of(deployment), name=name_of(deployment))


def workload_inventory(
    deployment: Obj,
    replicasets: Sequence[Obj],
    pods: Sequence[Obj],
    hpas: Sequence[Obj],
    scaled_objects: Sequence[Obj],
    *,
    rollouts: Sequence[Obj] = (),
) -> WorkloadInventory:
    """Everything the controller knows about one Deployment, from the cached objects.

    The sequences may hold unrelated objects (a whole namespace): ownership and target
    references decide what belongs to this Deployment.
    """
    owned = owned_replicasets(deployment, replicasets)
    history = revisions(owned)
    current = parse_int(annotations_of(deployment).get(REVISION_ANNOTATION))
    hpa_obj = hpa_for(deployment, hpas)
    return WorkloadInventory(
        ref=workload_ref(deployment),
        service=service_name(deployment),
        replicas=replica_status(deployment),
        resources=pod_resources(_live_pod_spec(deployment, owned, pods, current)),
        hpa=hpa_spec(hpa_obj) if hpa_obj is not None else None,
        scaling_owner=scaling_owner(deployment, hpa_obj, scaled_objects, rollouts),
        revisions=history,
        current_revision=current if any(r.revision == current for r in history) else None,
        slo=slo_spec(deployment),
        labels=labels_of(deployment),
    )


def replica_status(deployment: Obj) -> ReplicaStatus:
    """Desired replicas from the spec (default 1), the rest from the status."""
    spec, status = mapping(deployment.get("spec")), mapping(deployment.get("status"))
    desired = parse_int(spec.get("replicas"))

    def count(field: str) -> int:
        return max(0, parse_int(status.get(field)) or 0)

    return ReplicaStatus(
        desired=max(0, desired if desired is not None else 1),
        ready=count("readyReplicas"),
        available=count("availableReplicas"),
        updated=count("updatedReplicas"),
    )


def owned_replicasets(deployment: Obj, replicasets: Sequence[Obj]) -> list[Obj]:
    """The ReplicaSets controlled by ``deployment`` (same namespace, ownerReference)."""
    namespace = namespace_of(deployment)
    return [
        rs
        for rs in replicasets
        if namespace_of(rs) == namespace and owned_by(rs, "Deployment", deployment)
    ]


def revision_of(replicaset: Obj) -> int | None:
    """A ReplicaSet's rollout revision (its ``deployment.kubernetes.io/revision``)."""
    number = parse_int(annotations_of(replicaset).get(REVISION_ANNOTATION))
    return number if number is not None and number >= 1 else None


def revisions(owned: Sequence[Obj]) -> tuple[Revision, ...]:
    """Rollout history from a Deployment's ReplicaSets, oldest first (one per revision)."""
    by_number: dict[int, Revision] = {}
    for rs in owned:
        number, image = revision_of(rs), first_image(pod_spec_of(rs))
        created = parse_time(meta(rs).get("creationTimestamp"))
        if number is None or image is None or created is None:
            continue
        entry = Revision(
            revision=number,
            image=image,
            created=created,
            change_cause=clean_text(annotations_of(rs).get(CHANGE_CAUSE_ANNOTATION), 1024),
        )
        known = by_number.get(number)
        if known is None or entry.created > known.created:
            by_number[number] = entry
    return tuple(by_number[n] for n in sorted(by_number))


def _live_pod_spec(
    deployment: Obj, owned: Sequence[Obj], pods: Sequence[Obj], current: int | None
) -> Obj:
    """A running pod's spec from the current ReplicaSet, else the Deployment's template."""
    current_sets = [rs for rs in owned if current is not None and revision_of(rs) == current]
    candidates = sorted(
        (
            pod
            for pod in pods
            if mapping(pod.get("status")).get("phase") == "Running"
            and any(owned_by(pod, "ReplicaSet", rs) for rs in current_sets)
        ),
        key=name_of,
    )
    if candidates:
        return mapping(candidates[0].get("spec"))
    return pod_spec_of(deployment)


def pod_resources(pod_spec: Obj) -> Resources:
    """Per-pod requests and limits: the sum over long-running containers (see module doc)."""
    running = containers(pod_spec)

    def total(resource: str, kind: str) -> Any:
        amounts = []
        for container in running:
            declared = mapping(container.get("resources"))
            value = parse_quantity(mapping(declared.get(kind)).get(resource))
            if value is None and kind == "requests":
                value = parse_quantity(mapping(declared.get("limits")).get(resource))
            if value is None and kind == "limits":
                return None  # one unbounded container: the pod has no limit
            if value is not None:
                amounts.append(value)
        summed = sum(amounts)
        return summed if amounts and summed > 0 else None

    cpu_request, cpu_limit = total("cpu", "requests"), total("cpu", "limits")
    mem_request, mem_limit = total("memory", "requests"), total("memory", "limits")
    return Resources(
        cpu_request_cores=float(cpu_request) if cpu_request else None,
        cpu_limit_cores=float(cpu_limit) if cpu_limit else None,
        memory_request_bytes=_bytes(mem_request),
        memory_limit_bytes=_bytes(mem_limit),
    )


def _bytes(amount: Any) -> int | None:
    if amount is None:
        return None
    whole = int(-(-amount // 1))  # ceiling: "1.5k" is 1500 bytes, "0.5" rounds up to 1
    return whole if whole > 0 else None


def targets_deployment(target: Obj, deployment: Obj) -> bool:
    """Whether a scaleTargetRef/workloadRef names ``deployment`` (kind defaults to it)."""
    group = str(target.get("apiVersion") or "apps/v1").split("/")[0]
    return (
        str(target.get("kind") or "Deployment") == "Deployment"
        and group in ("apps", "extensions")
        and target.get("name") == name_of(deployment)
    )


def hpa_for(deployment: Obj, hpas: Sequence[Obj]) -> Obj | None:
    """The HPA scaling ``deployment`` (the first by name if several, a misconfiguration)."""
    namespace = namespace_of(deployment)
    matching = [
        hpa
        for hpa in hpas
        if namespace_of(hpa) == namespace
        and targets_deployment(mapping(mapping(hpa.get("spec")).get("scaleTargetRef")), deployment)
    ]
    return min(matching, key=name_of) if matching else None


def hpa_spec(hpa: Obj) -> HpaSpec | None:
    """The model of an autoscaling/v2 HPA, or None when its bounds are unusable."""
    spec = mapping(hpa.get("spec"))
    low = parse_int(spec.get("minReplicas"))
    high = parse_int(spec.get("maxReplicas"))
    low = 1 if low is None else low
    if high is None or low < 1 or high < low:
        return None
    return HpaSpec(
        name=name_of(hpa),
        min_replicas=low,
        max_replicas=high,
        target_cpu_utilization=_cpu_target(spec),
    )


def _cpu_target(hpa_spec_obj: Obj) -> float | None:
    for metric in items(hpa_spec_obj.get("metrics")):
        resource = mapping(metric.get("resource"))
        target = mapping(resource.get("target"))
        if metric.get("type") != "Resource" or resource.get("name") != "cpu":
            continue
        if target.get("type") != "Utilization":
            continue
        percent = parse_int(target.get("averageUtilization"))
        if percent is not None and 0 < percent <= 1000:
            return percent / 100
    return None


def scaling_owner(
    deployment: Obj,
    hpa: Obj | None,
    scaled_objects: Sequence[Obj],
    rollouts: Sequence[Obj] = (),
) -> ScalingOwner:
    """Who decides ``spec.replicas`` (R16): anything but NONE means do not write replicas."""
    if argo_rollout_of(deployment, rollouts) is not None:
        return ScalingOwner.ARGO_ROLLOUTS
    if keda_scaler_of(deployment, scaled_objects) is not None:
        return ScalingOwner.KEDA
    if hpa is not None:
        return ScalingOwner.HPA
    if is_gitops(deployment):
        return ScalingOwner.GITOPS
    return ScalingOwner.NONE


def argo_rollout_of(deployment: Obj, rollouts: Sequence[Obj]) -> str | None:
    """The Rollout (or annotation) through which Argo Rollouts manages ``deployment``."""
    for key in annotations_of(deployment):
        if key.startswith("rollouts.argoproj.io/"):
            return f"annotation {key}"
    namespace = namespace_of(deployment)
    for rollout in rollouts:
        ref = mapping(mapping(rollout.get("spec")).get("workloadRef"))
        if namespace_of(rollout) == namespace and targets_deployment(ref, deployment):
            return f"Rollout {name_of(rollout)}"
    return None


def keda_scaler_of(deployment: Obj, scaled_objects: Sequence[Obj]) -> str | None:
    """The KEDA ScaledObject scaling ``deployment``, or None."""
    namespace = namespace_of(deployment)
    for scaled in scaled_objects:
        ref = mapping(mapping(scaled.get("spec")).get("scaleTargetRef"))
        if namespace_of(scaled) == namespace and targets_deployment(ref, deployment):
            return name_of(scaled)
    return None


def is_gitops(obj: Obj) -> bool:
    """Whether Argo CD or Flux manages ``obj`` (its next sync would revert our writes)."""
    return gitops_owner(obj) is not None


def gitops_owner(obj: Obj) -> str | None:
    """What says a GitOps tool manages ``obj`` (e.g. ``Argo CD (label ...)``), or None.

    The one GitOps test of the controller: inventory (``scaling_owner``) and the writer's
    refusals read it. ``app.kubernetes.io/instance`` alone is Helm's label too; it counts as
    Argo CD's only next to an ``argocd.argoproj.io/*`` annotation (Argo CD's label tracking).
    A GitOps field manager counts whatever fields it owns: a sync re-applies its whole
    manifest, so owning the pod template is reason enough to keep our hands off.
    """
    labels, notes = labels_of(obj), annotations_of(obj)
    tags = {**labels, **notes}
    for key in _ARGO_CD_KEYS:
        if key in tags:
            return f"Argo CD ({key}={tags[key]})"
    argo_notes = [k for k in notes if k.startswith("argocd.argoproj.io/")]
    if "app.kubernetes.io/instance" in labels and argo_notes:
        return f"Argo CD (app.kubernetes.io/instance={labels['app.kubernetes.io/instance']})"
    for key, value in sorted(tags.items()):
        if key.startswith(_FLUX_PREFIXES):
            return f"Flux ({key}={value})"
    managed_by = labels.get("app.kubernetes.io/managed-by", "")
    if managed_by.lower() in _GITOPS_MANAGED_BY:
        return f"{managed_by} (app.kubernetes.io/managed-by)"
    for entry in items(meta(obj).get("managedFields")):
        manager = str(entry.get("manager") or "")
        if manager in _GITOPS_MANAGERS:
            return f"{manager} (field manager)"
    return None


def slo_spec(deployment: Obj) -> SloSpec:
    """SLO from ``aiops.dev/slo-availability`` (0.999 or 99.9%) and
    ``aiops.dev/slo-latency-p99`` (300ms, 0.3s, 0.3); unusable values keep the defaults."""
    notes = annotations_of(deployment)
    values: dict[str, float] = {}
    availability = _ratio(notes.get(SLO_AVAILABILITY_ANNOTATION))
    if availability is not None:
        values["availability"] = availability
    latency = _seconds(notes.get(SLO_LATENCY_ANNOTATION))
    if latency is not None:
        values["latency_p99_seconds"] = latency
    return SloSpec(**values)


def _ratio(text: str | None) -> float | None:
    if not text:
        return None
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        return None
    if percent or 1 < value < 100:
        value /= 100
    return value if 0 < value < 1 else None


def _seconds(text: str | None) -> float | None:
    match = _DURATION.match(text or "")
    if match is None:
        return None
    number, unit = float(match.group(1)), match.group(2) or "s"
    value = number * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    return value if value > 0 else None


def service_name(deployment: Obj) -> str | None:
    """The trace service name: ``aiops.dev/service``, else a literal ``OTEL_SERVICE_NAME``
    of the first container, else None (the model then uses the workload name)."""
    explicit = annotations_of(deployment).get(SERVICE_ANNOTATION, "").strip()
    if explicit:
        return explicit[:253]
    for container in items(pod_spec_of(deployment).get("containers")):
        for env in items(container.get("env")):
            if env.get("name") == "OTEL_SERVICE_NAME" and isinstance(env.get("value"), str):
                return str(env["value"]).strip()[:253] or None
        break
    return None
