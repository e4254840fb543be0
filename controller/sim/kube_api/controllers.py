"""An optional stand-in for the deployment controller of kube-controller-manager.

The API server alone never creates ReplicaSets or moves revisions; the deployment
controller does, after every change of a Deployment's pod template. With
``FakeKubeApi(deployment_controller=True)`` the fake runs this simplified, instant version of
it after each stored Deployment write, so that rollbacks and restarts leave the traces they
leave on a cluster:

- the ReplicaSet whose template (minus the ``pod-template-hash`` label) equals the
  Deployment's becomes the newest revision: an old one is *renumbered* to the next
  revision (the old number moves to ``deployment.kubernetes.io/revision-history``), which
  is what ``kubectl rollout undo`` leads to; without one a new ReplicaSet is created;
- the Deployment's ``deployment.kubernetes.io/revision`` follows, its status reports the
  rollout complete (counts, and the ``Progressing`` condition ``NewReplicaSetAvailable``
  stamped when the revision moves), and the newest ReplicaSet owns every replica;
- a paused Deployment only has its replica counts synced: no new revision is rolled out.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from controller.sim.kube_api.managed import record_update
from controller.sim.kube_api.resources import Key
from controller.sim.kube_api.store import Store, rfc3339

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
MANAGER = "kube-controller-manager"
COMPLETE_REASON = "NewReplicaSetAvailable"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API machinery's SafeEncodeString alphabet


def without_hash(template: Any) -> Obj:
    """A pod template without the ``pod-template-hash`` label (how templates are compared)."""
    copied: Obj = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (copied.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return copied


def template_hash(template: Any) -> str:
    """A stable, label-safe hash of a pod template (10 characters)."""
    digest = hashlib.sha256(json.dumps(without_hash(template), sort_keys=True).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:10])


def _revision(obj: Obj) -> int:
    text = str(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION) or "0")
    return int(text) if text.isdigit() else 0


def _owned(store: Store, deployment: Obj) -> list[tuple[Key, Obj]]:
    meta = deployment["metadata"]
    return [
        (key, rs)
        for key, rs in store.objects.items()
        if key[0] == "replicasets"
        and key[1] == meta.get("namespace")
        and any(
            ref.get("kind") == "Deployment" and ref.get("uid") == meta.get("uid")
            for ref in (rs.get("metadata") or {}).get("ownerReferences") or []
        )
    ]


def _update(store: Store, key: Key, old: Obj, new: Obj) -> None:
    if new != old:
        stamp = rfc3339(store.clock())
        record_update(
            old, new, manager=MANAGER, api_version="apps/v1", subresource=None, time=stamp
        )
        store.commit(key, new)


def sync_deployment(store: Store, key: Key) -> None:
    """Reconcile one Deployment the way the deployment controller would, instantly."""
    with store.cond:
        deployment = store.objects.get(key)
        if deployment is None:
            return
        spec = deployment.get("spec") or {}
        owned = _owned(store, deployment)
        wanted = without_hash(spec.get("template"))
        current = next(
            ((k, rs) for k, rs in owned
             if without_hash((rs.get("spec") or {}).get("template")) == wanted),
            None,
        )  # fmt: skip
        if spec.get("paused") and current is None:
            return
        newest = max((_revision(rs) for _, rs in owned), default=0)
        if current is None:
            current = _create_replicaset(store, deployment, newest + 1)
        elif _revision(current[1]) != newest or newest == 0:
            current = (current[0], _renumber(store, current, newest + 1))
        _scale_sets(store, owned, current[0], int(spec.get("replicas", 1)))
        _mark_rolled_out(store, key, deployment, _revision(current[1]))


def _create_replicaset(store: Store, deployment: Obj, revision: int) -> tuple[Key, Obj]:
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    hashed = template_hash(template)
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hashed
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = hashed
    name = f"{meta['name']}-{hashed}"
    replicaset: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {REVISION: str(revision)},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta.get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
    }
    key: Key = ("replicasets", meta.get("namespace"), name)
    return key, store.create(key, replicaset)


def _renumber(store: Store, found: tuple[Key, Obj], revision: int) -> Obj:
    key, old = found
    new = copy.deepcopy(old)
    notes = new.setdefault("metadata", {}).setdefault("annotations", {})
    previous = notes.get(REVISION)
    if previous:
        history = [h for h in str(notes.get(REVISION_HISTORY, "")).split(",") if h]
        notes[REVISION_HISTORY] = ",".join([*history, str(previous)])
    notes[REVISION] = str(revision)
    _update(store, key, old, new)
    return store.objects[key]


def _scale_sets(store: Store, owned: list[tuple[Key, Obj]], newest: Key, replicas: int) -> None:
    for key, rs in owned:
        if key == newest:
            continue
        if (rs.get("spec") or {}).get("replicas"):
            new = copy.deepcopy(rs)
            new["spec"]["replicas"] = 0
            _update(store, key, rs, new)
    current = store.objects[newest]
    if (current.get("spec") or {}).get("replicas") != replicas:
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        new["status"] = {"replicas": replicas, "readyReplicas": replicas}
        _update(store, newest, current, new)


def _mark_rolled_out(store: Store, key: Key, deployment: Obj, revision: int) -> None:
    new = copy.deepcopy(deployment)
    replicas = int((new.get("spec") or {}).get("replicas", 1))
    notes = new.setdefault("metadata", {}).setdefault("annotations", {})
    previous = notes.get(REVISION)
    notes[REVISION] = str(revision)
    status = new.setdefault("status", {})
    status.update(
        {
            "observedGeneration": new["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
    )
    _progressed(store, status, changed=previous != str(revision))
    _update(store, key, deployment, new)


def _progressed(store: Store, status: Obj, *, changed: bool) -> None:
    """The ``Progressing`` condition a complete rollout leaves (``NewReplicaSetAvailable``):
    the operator's observer turns it into the ``rollout_complete`` event, without which every
    deploy would look in flight forever (R16). Stamped when the revision moves, else kept."""
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    old = next((c for c in conditions if c.get("type") == "Progressing"), None)
    if old is not None and old.get("reason") == COMPLETE_REASON and not changed:
        return
    stamp = rfc3339(store.clock())
    condition = {
        "type": "Progressing",
        "status": "True",
        "reason": COMPLETE_REASON,
        "message": "ReplicaSet has successfully progressed.",
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }
    status["conditions"] = [*(c for c in conditions if c.get("type") != "Progressing"), condition]
