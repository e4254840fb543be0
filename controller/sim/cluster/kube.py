"""The simulator's side of the fake Kubernetes API: seed objects, read desired state, write as
the cluster's own controllers would.

The simulator reads the FakeKubeApi's store in process (no HTTP, no client): each step it
reads every Deployment's replicas and pod template, so whatever the controller under test
wrote through the real client (scale subresource, HPA bounds, ``rollout undo``, the
``restartedAt`` annotation) changes the pods and so the metrics. Its own writes are those of
actors a real cluster has and the fake lacks: the HPA controller (``spec.replicas`` and the
HPA's status) and a deploy pipeline (a new image, the ``bad_deploy`` fault). Each write is a
stored change with the next resourceVersion and a watch event, by a named field manager,
and runs the fake's deployment controller when it is on, as the API server's would.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime, timedelta
from typing import Any

from controller.sim.cluster.spec import HpaSpec, Scenario, WorkloadSpec
from controller.sim.cluster.state import Desired, Pod, WorkloadState
from controller.sim.kube_api.controllers import HASH_LABEL, sync_deployment, template_hash
from controller.sim.kube_api.managed import record_update
from controller.sim.kube_api.resources import Key
from controller.sim.kube_api.server import FakeKubeApi
from controller.sim.kube_api.store import rfc3339

Obj = dict[str, Any]
HPA_MANAGER = "horizontal-pod-autoscaler"
DEPLOY_MANAGER = "aiops-sim-pipeline"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _millicores(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def deployment_manifest(spec: WorkloadSpec) -> Obj:
    """The Deployment of ``spec``: one container with requests and limits, ``app`` labels."""
    labels = {"app": spec.name}
    container = {
        "name": spec.container,
        "image": spec.image,
        "resources": {
            "requests": {
                "cpu": _millicores(spec.cpu_request_cores),
                "memory": str(spec.memory_request_bytes),
            },
            "limits": {
                "cpu": _millicores(spec.cpu_limit_cores),
                "memory": str(spec.memory_limit_bytes),
            },
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": dict(labels),
            "generation": 1,
        },
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}},
        },
    }


def hpa_manifest(spec: WorkloadSpec, hpa: HpaSpec) -> Obj:
    """An autoscaling/v2 HPA on CPU utilisation targeting the workload's Deployment."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": spec.name, "namespace": spec.namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": hpa.min_replicas,
            "maxReplicas": hpa.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": hpa.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
        "status": {"currentReplicas": spec.replicas, "desiredReplicas": spec.replicas},
    }


def seed(api: FakeKubeApi, scenario: Scenario) -> None:
    """Store the scenario's namespaces (with their labels), Deployments and HPAs; objects the
    store already holds are kept (a test may have seeded its own)."""
    for namespace in sorted({w.namespace for w in scenario.workloads} | set(scenario.namespaces)):
        if api.get("namespaces", None, namespace) is None:
            labels = dict(scenario.namespaces.get(namespace, {}))
            meta = {"name": namespace, "labels": labels}
            api.put("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    for spec in scenario.workloads:
        if api.get("deployments", spec.namespace, spec.name) is None:
            api.put("deployments", deployment_manifest(spec))
            _sync(api, ("deployments", spec.namespace, spec.name))
        hpa = spec.hpa
        if (
            hpa is not None
            and api.get("horizontalpodautoscalers", spec.namespace, spec.name) is None
        ):
            api.put("horizontalpodautoscalers", hpa_manifest(spec, hpa))


def _sync(api: FakeKubeApi, key: Key) -> None:
    if api.deployment_controller:
        sync_deployment(api.store, key)


def _container(template: Obj, name: str) -> Obj:
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return next((c for c in containers if c.get("name") == name), containers[0])


def desired_of(spec: WorkloadSpec, deployment: Obj | None) -> Desired | None:
    """Replicas, ReplicaSet name (as the deployment controller names it) and image."""
    if deployment is None:
        return None
    body = deployment.get("spec") or {}
    template = body.get("template") or {}
    name = f"{spec.name}-{template_hash(template)}"
    image = str(_container(template, spec.container).get("image") or spec.image)
    replicas = body.get("replicas", 1)
    return Desired(int(replicas), name, image, bool(body.get("paused")), copy.deepcopy(template))


def read_desired(api: FakeKubeApi, spec: WorkloadSpec) -> Desired | None:
    """The workload's desired state as the store holds it now."""
    return desired_of(spec, api.get("deployments", spec.namespace, spec.name))


def hpa_of(api: FakeKubeApi, spec: WorkloadSpec) -> Obj | None:
    """The HPA whose ``scaleTargetRef`` is the workload's Deployment (first by name), if any."""
    with api.store.cond:
        found = [
            obj
            for (plural, namespace, _), obj in api.store.objects.items()
            if plural == "horizontalpodautoscalers"
            and namespace == spec.namespace
            and _targets(obj, spec.name)
        ]
        first = min(found, key=lambda obj: str(obj["metadata"]["name"]), default=None)
        return copy.deepcopy(first) if first is not None else None


def _targets(hpa: Obj, deployment: str) -> bool:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return bool(ref.get("kind") == "Deployment" and ref.get("name") == deployment)


def hpa_target(hpa: Obj) -> tuple[int, int, int]:
    """(minReplicas, maxReplicas, target CPU utilisation percent) of an HPA object."""
    body = hpa.get("spec") or {}
    target = int(body.get("targetCPUUtilizationPercentage") or 80)  # autoscaling/v1
    for metric in body.get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            target = int((resource.get("target") or {}).get("averageUtilization") or target)
    low = int(body.get("minReplicas") or 1)
    return low, max(low, int(body.get("maxReplicas") or low)), target


def _write(api: FakeKubeApi, key: Key, change: Any, manager: str, api_version: str) -> bool:
    """Apply ``change(obj)`` to the stored object as ``manager``; False when absent/no-op."""
    store = api.store
    with store.cond:
        current = store.objects.get(key)
        if current is None:
            return False
        new = copy.deepcopy(current)
        change(new)
        if new == current:
            return False
        if new.get("spec") != current.get("spec"):
            meta = new.setdefault("metadata", {})
            meta["generation"] = int(meta.get("generation") or 1) + 1
        stamp = rfc3339(store.clock())
        record_update(
            current, new, manager=manager, api_version=api_version, subresource=None, time=stamp
        )
        store.commit(key, new)
    return True


def set_replicas(api: FakeKubeApi, spec: WorkloadSpec, replicas: int) -> bool:
    """The HPA controller scales the Deployment (``spec.replicas``); True when it changed."""
    key: Key = ("deployments", spec.namespace, spec.name)

    def change(obj: Obj) -> None:
        obj.setdefault("spec", {})["replicas"] = replicas

    changed = _write(api, key, change, HPA_MANAGER, "apps/v1")
    if changed:
        _sync(api, key)
    return changed


def set_hpa_status(api: FakeKubeApi, hpa: Obj, current: int, desired: int, now: datetime) -> None:
    """The HPA controller reports what it saw and wants (``status``), when that changed."""
    meta = hpa.get("metadata") or {}
    key: Key = ("horizontalpodautoscalers", meta.get("namespace"), str(meta.get("name")))

    def change(obj: Obj) -> None:
        status = obj.setdefault("status", {})
        if (status.get("currentReplicas"), status.get("desiredReplicas")) != (current, desired):
            status.update({"currentReplicas": current, "desiredReplicas": desired})
            status["lastScaleTime"] = rfc3339(now)

    _write(api, key, change, HPA_MANAGER, "autoscaling/v2")


def set_image(api: FakeKubeApi, spec: WorkloadSpec, image: str) -> bool:
    """A deploy pipeline rolls out ``image`` (the ``bad_deploy`` fault)."""
    key: Key = ("deployments", spec.namespace, spec.name)

    def change(obj: Obj) -> None:
        template = obj.setdefault("spec", {}).setdefault("template", {})
        _container(template, spec.container)["image"] = image

    changed = _write(api, key, change, DEPLOY_MANAGER, "apps/v1")
    if changed:
        _sync(api, key)
    return changed


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stamp(start: datetime, offset: float) -> str:
    return rfc3339(start + timedelta(seconds=offset))


def pod_manifest(
    spec: WorkloadSpec, pod: Pod, template: Any, owner_uid: str, start: datetime, now: float
) -> Obj:
    """The Pod object of ``pod``, as the kubelet would report it at ``now``: Running, Ready
    once started, its restart count and an ``OOMKilled`` last termination after a kill."""
    body = copy.deepcopy(template) if isinstance(template, dict) else {}
    meta = body.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), HASH_LABEL: pod.replicaset.rsplit("-", 1)[-1]}
    ready = pod.ready(now)
    status: Obj = {
        "name": spec.container,
        "image": pod.image,
        "imageID": f"{pod.image}@sha256:{_digest(pod.image)}",
        "containerID": f"containerd://{_digest(f'{pod.name}/{pod.restarts}')}",
        "ready": ready,
        "started": ready,
        "restartCount": pod.restarts,
        "state": {"running": {"startedAt": _stamp(start, pod.started)}},
        "lastState": {},
    }
    if pod.last_oom is not None:
        status["lastState"] = {
            "terminated": {
                "reason": "OOMKilled",
                "exitCode": 137,
                "finishedAt": _stamp(start, pod.last_oom),
            }
        }
    condition = "True" if ready else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "creationTimestamp": _stamp(start, pod.created),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": pod.replicaset,
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": body.get("spec") or {},
        "status": {
            "phase": "Running",
            "startTime": _stamp(start, pod.created),
            "conditions": [
                {"type": "Ready", "status": condition},
                {"type": "ContainersReady", "status": condition},
            ],
            "containerStatuses": [status],
        },
    }


def mirror_pods(
    api: FakeKubeApi, state: WorkloadState, start: datetime, now: float, mirrored: dict[str, Any]
) -> None:
    """Make the store's Pods of the workload match the simulated ones; ``mirrored`` remembers
    what was written (name -> what the object shows), so only changes are stored."""
    spec = state.spec
    wanted = {p.name: p for p in state.pods}
    for name in [n for n in mirrored if n not in wanted]:
        if api.get("pods", spec.namespace, name) is not None:
            api.delete("pods", spec.namespace, name)
        del mirrored[name]
    for name, pod in wanted.items():
        shown = (pod.ready(now), pod.restarts)
        if mirrored.get(name) != shown:
            template = state.templates.get(pod.replicaset)
            owner = api.get("replicasets", spec.namespace, pod.replicaset) or {}
            uid = str((owner.get("metadata") or {}).get("uid") or f"uid-{pod.replicaset}")
            api.put("pods", pod_manifest(spec, pod, template, uid, start, now))
            mirrored[name] = shown
