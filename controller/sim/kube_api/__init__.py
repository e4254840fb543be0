"""A loopback fake of the Kubernetes API server that speaks the real wire protocol.

Shared by the adapter tests, the chaos scenarios and ``aiops demo``: the official
``kubernetes`` client talks to it over HTTP on 127.0.0.1 exactly as it talks to a cluster.
It never imports that client (``.importlinter`` enforces it). Why not kmock: its emulator
serves lists with a placeholder resourceVersion and replays every object on each watch, so
it can neither expire a resourceVersion (410 Gone) nor resume a watch from one.

Modules (each one concern):

- ``server``: ``FakeKubeApi``, the HTTP server, its request log and switches;
- ``store``: objects, the global resourceVersion counter, bounded history, pagination;
- ``handlers``: GET/list/PATCH/PUT semantics (preconditions, dry run, ``/scale``);
- ``patches``: JSON merge patch, strategic merge patch, JSON patch;
- ``validation``: what is rejected with 422 Invalid;
- ``crds``/``schema``: custom resources served from a CRD manifest, their structural schema
  enforced (pruning, defaults, 422 causes, the CEL rules used), ``kubectl get`` columns;
- ``managed``: ``managedFields`` per field manager;
- ``selectors``: label and field selectors;
- ``watch``: watch streams, bookmarks, 410;
- ``faults``: 429 with Retry-After, 500/503, connection resets, slow responses;
- ``recording``: the request log;
- ``controllers``: an optional, instant deployment controller (ReplicaSets, revisions);
- ``status``: Status objects with the API server's reasons and messages;
- ``resources``: the served types and how paths name them.
"""

from __future__ import annotations

from controller.sim.kube_api.crds import remediation_crd
from controller.sim.kube_api.faults import MAX_DELAY, Fault, Faults
from controller.sim.kube_api.recording import RecordedRequest, RequestLog
from controller.sim.kube_api.resources import CORE_PLURALS, RESOURCES, ResourceType
from controller.sim.kube_api.server import FakeKubeApi, wait_for

__all__ = [
    "CORE_PLURALS",
    "MAX_DELAY",
    "RESOURCES",
    "FakeKubeApi",
    "Fault",
    "Faults",
    "RecordedRequest",
    "RequestLog",
    "ResourceType",
    "remediation_crd",
    "wait_for",
]
