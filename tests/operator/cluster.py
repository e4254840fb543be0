"""A small cluster in the loopback Kubernetes API fake, and a kubeconfig that points at it.

The recorded Prometheus series (tests/adapters/prometheus/recording.py) describe shop/web,
shop/cart and pay/api; the same three Deployments live here, so the operator's fleet and its
metrics agree. ``shop`` is opted in by label (the default policy's rule).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.sim.kube_api import FakeKubeApi, RecordedRequest
from tests.adapters.kube import manifests

Obj = dict[str, Any]
WORKLOADS = (("shop", "web"), ("shop", "cart"), ("pay", "api"))
EVENTS_NAMESPACE = "aiops-system"


def _deployment(namespace: str, name: str) -> Obj:
    obj = manifests.deployment()
    obj["metadata"] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "generation": 1,
        "creationTimestamp": "2026-02-01T09:00:00Z",
        "labels": {"app": name},
        "annotations": {"deployment.kubernetes.io/revision": "1"},
    }
    obj["spec"]["selector"] = {"matchLabels": {"app": name}}
    obj["spec"]["template"]["metadata"] = {"labels": {"app": name}}
    obj["status"]["observedGeneration"] = 1
    return obj


def seed(api: FakeKubeApi) -> None:
    """Namespaces and the three Deployments."""
    api.put("namespaces", manifests.namespace("shop", **{"aiops.dev/remediate": "enabled"}))
    api.put("namespaces", manifests.namespace("pay"))
    api.put("namespaces", manifests.namespace(EVENTS_NAMESPACE))
    for namespace, name in WORKLOADS:
        api.put("deployments", _deployment(namespace, name))


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig for the fake: plain HTTP on 127.0.0.1, no credentials (JSON is YAML)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "nobody"}}],
        "current-context": "fake",
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def events_posted(api: FakeKubeApi, reason: str | None = None) -> list[RecordedRequest]:
    """The Event creations the operator sent (whatever the fake answered)."""
    return [
        r
        for r in api.requests
        if r.method == "POST"
        and r.path.endswith("/events")
        and (reason is None or (isinstance(r.body, dict) and r.body.get("reason") == reason))
    ]


def writes_other_than_events(api: FakeKubeApi) -> list[RecordedRequest]:
    """Every PATCH, PUT, POST or DELETE that is not an Event (shadow mode: none)."""
    return [r for r in api.mutations() if not r.path.endswith("/events")]
