"""Realistic manifests, shaped like ``kubectl get -o json`` output, built fresh per call.

The ``checkout`` Deployment in ``shop``: three ReplicaSet revisions, an HPA, Argo CD
labels, a native sidecar, a crash-looping pod whose last termination was OOMKilled and
which got an istio-proxy injected at admission, and the Events such a workload collects.
A second Deployment, ``worker``, is scaled by KEDA; ``cart`` is unrelated noise.
"""

from __future__ import annotations

import copy
from typing import Any

NS = "shop"
DEPLOY_UID = "0b6d2c4e-checkout"
IMAGE = "registry.example.com/shop/checkout:{}"
Obj = dict[str, Any]


def _container(name: str, image: str, cpu: tuple[str, str], mem: tuple[str, str]) -> Obj:
    return {
        "name": name,
        "image": image,
        "resources": {
            "requests": {"cpu": cpu[0], "memory": mem[0]},
            "limits": {"cpu": cpu[1], "memory": mem[1]},
        },
    }


def pod_spec(version: str = "1.3.0") -> Obj:
    """The checkout pod template spec: app container + native log-shipper sidecar."""
    app = _container("app", IMAGE.format(version), ("250m", "1"), ("256Mi", "512Mi"))
    app["env"] = [
        {"name": "OTEL_SERVICE_NAME", "value": "checkout-svc"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    sidecar = _container("log-shipper", "fluent-bit:3.0", ("50m", "100m"), ("64Mi", "128Mi"))
    sidecar["restartPolicy"] = "Always"
    init = _container("migrate", IMAGE.format(version), ("2", "2"), ("1Gi", "1Gi"))
    return {"containers": [app], "initContainers": [init, sidecar]}


def deployment(**changes: Any) -> Obj:
    """``checkout`` at revision 3, rolled out and complete."""
    obj: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": NS,
            "uid": DEPLOY_UID,
            "generation": 7,
            "resourceVersion": "4711",
            "creationTimestamp": "2026-02-01T09:00:00Z",
            "labels": {"app": "checkout", "argocd.argoproj.io/instance": "shop-checkout"},
            "annotations": {
                "deployment.kubernetes.io/revision": "3",
                "aiops.dev/slo-availability": "99.95%",
                "aiops.dev/slo-latency-p99": "300ms",
            },
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": pod_spec(),
            },
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 7,
            "replicas": 4,
            "updatedReplicas": 4,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "lastUpdateTime": "2026-03-10T12:03:00Z",
                    "lastTransitionTime": "2026-03-10T12:03:00Z",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": 'ReplicaSet "checkout-7f9c6d5b8" has successfully progressed.',
                    "lastUpdateTime": "2026-03-10T12:04:00Z",
                    "lastTransitionTime": "2026-02-01T09:00:00Z",
                },
            ],
        },
    }
    for path, value in changes.items():
        _set(obj, path, value)
    return obj


def _set(obj: Obj, path: str, value: Any) -> None:
    *parents, leaf = path.split("__")
    for part in parents:
        obj = obj.setdefault(part, {})
    obj[leaf] = value


def replicaset(
    name: str,
    revision: int,
    version: str,
    created: str,
    *,
    owner: tuple[str, str] = ("checkout", DEPLOY_UID),
    cause: str | None = None,
) -> Obj:
    """A ReplicaSet owned by ``owner`` (name, uid) at ``revision``, shaped as the deployment
    controller makes them: its template is the Deployment's plus ``pod-template-hash``."""
    template_hash = name.rsplit("-", 1)[-1]
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"rs-{name}",
            "creationTimestamp": created,
            "annotations": annotations,
            "labels": {"app": owner[0], "pod-template-hash": template_hash},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": owner[0],
                    "uid": owner[1],
                    "controller": True,
                }
            ],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": owner[0], "pod-template-hash": template_hash}},
            "template": {
                "metadata": {"labels": {"app": owner[0], "pod-template-hash": template_hash}},
                "spec": pod_spec(version),
            },
        },
    }


def replicasets() -> list[Obj]:
    """Revisions 1..3 of checkout, plus one of an unrelated Deployment."""
    return [
        replicaset("checkout-5d8f7c9b6", 1, "1.1.0", "2026-03-01T08:00:00Z"),
        replicaset(
            "checkout-6c9d8e7f5",
            2,
            "1.2.0",
            "2026-03-05T10:00:00Z",
            cause="argocd sync: bump to 1.2.0",
        ),
        replicaset("checkout-7f9c6d5b8", 3, "1.3.0", "2026-03-10T12:00:00Z"),
        replicaset(
            "cart-7d6f5c4b3", 9, "9.9.9", "2026-03-10T11:00:00Z", owner=("cart", "cart-uid")
        ),
    ]


def crashing_pod(phase: str = "Running") -> Obj:
    """A pod of revision 3: istio-proxy injected, app crash-looping after an OOM kill."""
    spec = pod_spec()
    spec["containers"].append(
        _container("istio-proxy", "istio/proxyv2:1.22", ("100m", "2"), ("128Mi", "1Gi"))
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "checkout-7f9c6d5b8-h2kxq",
            "namespace": NS,
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "checkout-7f9c6d5b8", "uid": "rs-checkout-7f9c6d5b8"}
            ],
        },
        "spec": spec,
        "status": {
            "phase": phase,
            "startTime": "2026-03-10T12:01:00Z",
            "containerStatuses": [
                {
                    "name": "app",
                    "restartCount": 5,
                    "state": {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": "back-off 2m40s restarting failed container",
                        }
                    },
                    "lastState": {
                        "terminated": {
                            "reason": "OOMKilled",
                            "exitCode": 137,
                            "startedAt": "2026-03-10T12:20:00Z",
                            "finishedAt": "2026-03-10T12:21:30Z",
                        }
                    },
                },
                {"name": "istio-proxy", "restartCount": 0, "state": {"running": {}}},
            ],
        },
    }


def hpa(target: str = "checkout", name: str = "checkout") -> Obj:
    """An autoscaling/v2 HPA on CPU 75% (and memory, which is not a CPU target)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "Utilization", "averageUtilization": 90},
                    },
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 75},
                    },
                },
            ],
        },
    }


def scaled_object(target: str = "worker", namespace: str = NS) -> Obj:
    """A KEDA ScaledObject scaling ``target`` on a queue length."""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"{target}-scaler", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"name": target},
            "minReplicaCount": 1,
            "maxReplicaCount": 20,
            "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "orders"}}],
        },
    }


def worker() -> Obj:
    """A plain Deployment ``worker`` (KEDA scales it via its own HPA)."""
    obj = deployment()
    obj["metadata"] = {"name": "worker", "namespace": NS, "uid": "worker-uid"}
    return obj


def event(reason: str, kind: str, name: str, message: str, at: str, **extra: Any) -> Obj:
    """A core/v1 Event about ``kind``/``name``."""
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason.lower()}.{at[-9:-1]}", "namespace": NS},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS},
        "reason": reason,
        "message": message,
        "type": "Normal",
        "firstTimestamp": at,
        "lastTimestamp": at,
        "source": {"component": extra.pop("component", "deployment-controller")},
    }
    obj.update(extra)
    return obj


def events() -> list[Obj]:
    """What ``kubectl get events -n shop`` shows around the incident."""
    return [
        event(
            "ScalingReplicaSet",
            "Deployment",
            "checkout",
            "Scaled up replica set checkout-7f9c6d5b8 to 1",
            "2026-03-10T12:00:05Z",
        ),
        event(
            "SuccessfulRescale",
            "HorizontalPodAutoscaler",
            "checkout",
            "New size: 4; reason: cpu resource utilization above target",
            "2026-03-10T12:10:00Z",
            component="horizontal-pod-autoscaler",
        ),
        event(
            "BackOff",
            "Pod",
            "checkout-7f9c6d5b8-x9z7q",  # a pod already gone from the cache
            "Back-off restarting failed container app in pod checkout-7f9c6d5b8-x9z7q",
            "2026-03-10T12:15:00Z",
            component="kubelet",
            type="Warning",
        ),
        event(
            "BackOff",
            "Pod",
            "checkout-7f9c6d5b8-h2kxq",
            'Back-off pulling image "registry.example.com/shop/checkout:1.3.0"',
            "2026-03-10T12:16:00Z",
            component="kubelet",
        ),
        event(
            "FailedScheduling",
            "Pod",
            "checkout-7f9c6d5b8-h2kxq",
            "0/3 nodes are available: \x1b[31minsufficient memory\x1b[0m " + "x" * 5000,
            "2026-03-10T12:17:00Z",
            component="default-scheduler",
        ),
        event(
            "ScalingReplicaSet",
            "Deployment",
            "cart",
            "Scaled up replica set cart-7d6f5c4b3 to 2",
            "2026-03-10T12:18:00Z",
        ),
    ]


def namespace(name: str = NS, **labels: str) -> Obj:
    """A Namespace with labels (policy opts namespaces in by label)."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def fresh(obj: Obj) -> Obj:
    """A deep copy, so a test can change it freely."""
    return copy.deepcopy(obj)
