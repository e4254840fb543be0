"""Request semantics, independent of HTTP: GET, list, PATCH and PUT of objects and subresources.

The write pipeline mirrors the API server's: decode the body or apply the patch to the
stored object, check the name, honour ``metadata.resourceVersion`` as a precondition (409
Conflict when it is not the stored one; absent means unconditional), keep what clients may
not set (``status`` on the main resource, uid, creationTimestamp, generation), validate
(422), bump ``metadata.generation`` when the spec changed, record the field manager in
``managedFields``, then either store the result under the next resourceVersion or, for
``?dryRun=All``, answer it and store nothing (no new version, no watch event). A write that
changes nothing is not stored either: the object keeps its resourceVersion.

The ``scale`` subresource of Deployments and ReplicaSets reads and writes an
``autoscaling/v1`` Scale whose ``spec.replicas`` is the parent's; its resourceVersion is the
parent's, and its precondition works the same way.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.sim.kube_api.crds import DEFINITIONS, admitted
from controller.sim.kube_api.managed import default_manager, record_update
from controller.sim.kube_api.patches import MERGE_PATCH, apply_patch, media_type
from controller.sim.kube_api.resources import RESOURCES, Route
from controller.sim.kube_api.selectors import field_matcher, label_matcher
from controller.sim.kube_api.status import (
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
    required,
)
from controller.sim.kube_api.store import Store, rfc3339
from controller.sim.kube_api.validation import check_identity, validate, validate_scale

Obj = dict[str, Any]
_SERVER_META = ("uid", "creationTimestamp", "generation", "managedFields", "resourceVersion")
_SCALE_RESOURCE = RESOURCES["deployments"]  # strategic merge is accepted on a Scale
CREATABLE = frozenset({"leases", "configmaps", "events"})
"""Types a client may create (POST): the Lease of leader election, the kill switch's
ConfigMap (``aiops freeze``) and the operator's Events, plus every custom resource installed
from a CRD (``creatable``). Any other POST is 405, as the controller's RBAC grants no other
create."""


def creatable(plural: str) -> bool:
    """Whether a POST to ``plural``'s collection is served."""
    return plural in CREATABLE or plural in DEFINITIONS


@dataclass(frozen=True)
class WriteRequest:
    """A PATCH or PUT as the handler received it."""

    method: str
    route: Route
    params: dict[str, str]
    raw: bytes
    content_type: str
    user_agent: str

    @property
    def dry_run(self) -> bool:
        """``dryRun=All`` (any other value is a 400, checked by ``check_dry_run``)."""
        return "dryRun" in self.params

    @property
    def manager(self) -> str:
        """``?fieldManager=``, else the User-Agent's product name."""
        return self.params.get("fieldManager") or default_manager(self.user_agent)


def check_dry_run(params: dict[str, str]) -> None:
    """400 for a dryRun value other than ``All``; 400 for an overlong fieldManager."""
    value = params.get("dryRun")
    if value is not None and value != "All":
        raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    if len(params.get("fieldManager", "")) > 128:
        raise bad_request("fieldManager: Too long: may not be longer than 128")


# ----- reads ------------------------------------------------------------------------------


def read_object(store: Store, route: Route) -> Obj:
    """GET of one object or of its subresource (404 when absent)."""
    found = store.get(route.key)
    if found is None:
        raise not_found(route.resource, route.name or "")
    if route.subresource == "scale":
        return scale_of(found)
    return found


def list_objects(store: Store, route: Route, params: dict[str, str]) -> Obj:
    """A list with ``labelSelector``, ``fieldSelector``, ``limit`` and ``continue``."""
    labels = label_matcher(params.get("labelSelector", ""))
    fields = field_matcher(params.get("fieldSelector", ""))
    limit_text = params.get("limit", "")
    if limit_text and not limit_text.isdigit():
        raise bad_request(f"limit: Invalid value: {limit_text!r}")
    page = store.page(
        route,
        lambda obj: labels(obj) and fields(obj),
        limit=int(limit_text) if limit_text else None,
        token=params.get("continue") or None,
    )
    meta: Obj = {"resourceVersion": str(page.resource_version)}
    if page.continue_token:
        meta["continue"] = page.continue_token
        meta["remainingItemCount"] = page.remaining
    return {
        "kind": route.resource.kind + "List",
        "apiVersion": route.resource.api_version,
        "metadata": meta,
        "items": page.items,
    }


def _selector_text(selector: Any) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def scale_of(parent: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale of a Deployment or ReplicaSet."""
    meta, spec = parent.get("metadata") or {}, parent.get("spec") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {
            "replicas": (parent.get("status") or {}).get("replicas", 0),
            "selector": _selector_text(spec.get("selector")),
        },
    }


# ----- writes -----------------------------------------------------------------------------


def _decoded(request: WriteRequest) -> Any:
    if media_type(request.content_type) not in ("application/json", ""):
        raise bad_request(f"unsupported body type {request.content_type!r} for {request.method}")
    try:
        return json.loads(request.raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"error decoding body: {exc}") from exc


def _proposed(request: WriteRequest, current: Obj) -> Any:
    if request.method == "PATCH":
        scale = request.route.subresource == "scale"
        resource = _SCALE_RESOURCE if scale else request.route.resource
        return apply_patch(resource, request.content_type or MERGE_PATCH, current, request.raw)
    return _decoded(request)


def _precondition(request: WriteRequest, proposed: Obj, current: Obj) -> None:
    wanted = (proposed.get("metadata") or {}).get("resourceVersion")
    if wanted not in (None, "") and str(wanted) != current["metadata"]["resourceVersion"]:
        raise conflict(request.route.resource, request.route.name or "")


def _with_server_fields(route: Route, proposed: Obj, current: Obj) -> Obj:
    """What is stored: the client's object with the fields only the server sets restored."""
    new = copy.deepcopy(proposed)
    new["apiVersion"], new["kind"] = route.resource.api_version, route.resource.kind
    meta = new.setdefault("metadata", {})
    for field in _SERVER_META:
        if field in current["metadata"]:
            meta[field] = copy.deepcopy(current["metadata"][field])
        else:
            meta.pop(field, None)
    if route.resource.namespaced:
        meta["namespace"] = route.namespace
    if "status" in route.resource.subresources:
        new.pop("status", None)
        if "status" in current:
            new["status"] = copy.deepcopy(current["status"])
    _bump_generation(new, current)
    return new


def _bump_generation(new: Obj, current: Obj) -> None:
    """``metadata.generation`` counts spec changes (metadata and status leave it alone)."""
    if new.get("spec") != current.get("spec"):
        meta = new.setdefault("metadata", {})
        meta["generation"] = int(current["metadata"].get("generation") or 1) + 1


def _scaled(request: WriteRequest, current: Obj) -> Obj:
    scale = scale_of(current)
    proposed = _proposed(request, scale)
    check_identity(request.route, proposed)
    replicas = validate_scale(proposed, request.route.name or "")
    _precondition(request, proposed, current)
    new = copy.deepcopy(current)
    new.setdefault("spec", {})["replicas"] = replicas
    _bump_generation(new, current)
    return new


def _status_written(request: WriteRequest, current: Obj) -> Obj:
    proposed = _proposed(request, current)
    check_identity(request.route, proposed)
    _precondition(request, proposed, current)
    new = copy.deepcopy(current)
    new["status"] = copy.deepcopy(proposed.get("status") or {})
    return admitted(request.route.resource, new, current)  # a CRD's schema covers status too


def _main_written(request: WriteRequest, current: Obj) -> Obj:
    proposed = _proposed(request, current)
    check_identity(request.route, proposed)
    _precondition(request, proposed, current)
    new = _with_server_fields(request.route, proposed, current)
    validate(request.route.resource, new, current)
    return admitted(request.route.resource, new, current)


_BUILDERS: dict[str, Callable[[WriteRequest, Obj], Obj]] = {
    "scale": _scaled,
    "status": _status_written,
}


def write(store: Store, request: WriteRequest, after: Callable[[Obj], None] | None = None) -> Obj:
    """Run one PATCH/PUT; the stored (or, for a dry run, the would-be) object or Scale.

    ``after`` runs on the stored parent object once a real write changed it (the optional
    deployment controller).
    """
    check_dry_run(request.params)
    route = request.route
    with store.cond:
        current = store.objects.get(route.key)
        if current is None:
            raise not_found(route.resource, route.name or "")
        build = _BUILDERS.get(route.subresource or "", _main_written)
        new = build(request, current)
        if new == current:
            result = copy.deepcopy(current)
        else:
            # A scale write is owned in the parent's terms (f:spec.f:replicas, apps/v1).
            record_update(current, new, manager=request.manager,
                          api_version=route.resource.api_version,
                          subresource=route.subresource, time=rfc3339(store.clock()))  # fmt: skip
            result = copy.deepcopy(new) if request.dry_run else store.commit(route.key, new)
    if after is not None and new != current and not request.dry_run:
        after(result)
    return scale_of(result) if route.subresource == "scale" else result


def create(store: Store, request: WriteRequest) -> Obj:
    """Run one POST to a collection: the created (for a dry run, the would-be) object.

    As the API server does: the body names the object (422 without ``metadata.name``), its
    namespace is the URL's, server-set metadata is replaced (uid, creationTimestamp,
    resourceVersion, ``generation: 1``), it is validated, and an existing name is 409
    AlreadyExists.
    """
    check_dry_run(request.params)
    resource = request.route.resource
    proposed = _decoded(request)
    meta = proposed.get("metadata") if isinstance(proposed, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise invalid(resource.kind, resource.group, "", [required("metadata.name")])
    route = Route(resource, request.route.namespace, name)
    check_identity(route, proposed)
    new = _with_server_fields(route, proposed, {"metadata": {}})
    new["metadata"]["generation"] = 1
    validate(resource, new, None)
    new = admitted(resource, new, None)
    with store.cond:
        if route.key in store.objects:
            raise already_exists(resource, name)
        record_update({}, new, manager=request.manager, api_version=resource.api_version,
                      subresource=None, time=rfc3339(store.clock()))  # fmt: skip
        if request.dry_run:
            new["metadata"]["creationTimestamp"] = rfc3339(store.clock())
            return new
        return store.create(route.key, new)
