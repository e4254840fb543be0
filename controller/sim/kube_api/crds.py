"""Custom resources served from a CustomResourceDefinition manifest, as an API server does.

``install_crd(api, manifest)`` (``FakeKubeApi.install_crd``) reads an
``apiextensions.k8s.io/v1`` CRD: it checks that the served version's schema is structural and
that every CEL rule is one the fake can evaluate (``schema.check_supported``), registers the
type (plural, kind, scope, ``status``/``scale`` subresources; custom resources take no
strategic merge patch) and serves it. From then on every write of such an object is pruned,
defaulted and validated against the schema (422 with field causes otherwise), on creates,
on the main resource and on ``/status``; lists answer ``as=Table`` with the CRD's
``additionalPrinterColumns``, which is what ``kubectl get`` renders.

The project's own CRDs are read from the Helm chart (``charts/aiops-controller/crds/``), never
copied: ``remediation_crd()`` loads the file the chart installs.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.bundled import bundled
from controller.errors import InputError
from controller.sim.kube_api.resources import RESOURCES, ResourceType
from controller.sim.kube_api.schema import admit, check_supported, not_structural
from controller.sim.kube_api.status import invalid
from controller.yamlfile import YamlSpec, load_yaml_file, require_mapping

Obj = dict[str, Any]

REMEDIATION_CRD = "charts/aiops-controller/crds/remediations.aiops.dev.yaml"
"""The chart's Remediation CRD, relative to the repository (or the wheel's bundle)."""
CRD_YAML = YamlSpec(what="CustomResourceDefinition")
TABLE_MEDIA = "as=table"


@dataclass(frozen=True)
class Column:
    """One ``additionalPrinterColumns`` entry."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class Definition:
    """A served custom resource: its type, the served version's schema and columns."""

    resource: ResourceType
    schema: Obj
    columns: tuple[Column, ...] = ()
    manifest: Obj = field(default_factory=dict, compare=False)


DEFINITIONS: dict[str, Definition] = {}
"""Installed custom resources by plural (the same CRD installed twice is one entry)."""


def load_crd(path: Path) -> Obj:
    """A CRD manifest from a YAML file (``InputError`` naming the file when unreadable)."""
    return require_mapping(load_yaml_file(path, CRD_YAML), str(path), CRD_YAML)


def remediation_crd() -> Obj:
    """The chart's ``remediations.aiops.dev`` CRD, as installed by Helm (a fresh copy)."""
    return copy.deepcopy(_remediation_crd())


@functools.cache
def _remediation_crd() -> Obj:
    """Parsed once per process: the strict YAML reader is pure Python and the CRD is long."""
    return load_crd(bundled(REMEDIATION_CRD))


def definition_of(manifest: Obj) -> Definition:
    """The served version of ``manifest`` as a ``Definition``; ``InputError`` when the fake
    (or a real API server) would refuse the CRD."""
    spec = manifest.get("spec") or {}
    names = spec.get("names") or {}
    name = str((manifest.get("metadata") or {}).get("name") or "")
    if manifest.get("kind") != "CustomResourceDefinition" or not names.get("plural"):
        raise InputError("CRD", name, "not an apiextensions.k8s.io/v1 CustomResourceDefinition")
    served = [v for v in spec.get("versions") or [] if v.get("served")]
    if len(served) != 1:
        raise InputError("CRD", name, "the fake serves exactly one version per CRD")
    version = served[0]
    schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
    problems = not_structural(schema) + check_supported(schema)
    if problems:
        raise InputError("CRD", name, "; ".join(problems))
    resource = ResourceType(
        str(spec.get("group")),
        str(version.get("name")),
        str(names["plural"]),
        str(names.get("kind")),
        namespaced=spec.get("scope") == "Namespaced",
        subresources=frozenset((version.get("subresources") or {}).keys()),
        strategic=False,
    )
    columns = tuple(
        Column(
            name=str(c["name"]),
            type=str(c.get("type", "string")),
            json_path=str(c["jsonPath"]),
            priority=int(c.get("priority", 0)),
            description=str(c.get("description", "")),
        )
        for c in version.get("additionalPrinterColumns") or []
    )
    return Definition(resource, schema, columns, copy.deepcopy(manifest))


def register(manifest: Obj) -> Definition:
    """Make the CRD's type known to routing and the store; returns its definition."""
    found = definition_of(manifest)
    RESOURCES[found.resource.plural] = found.resource
    DEFINITIONS[found.resource.plural] = found
    return found


def admitted(resource: ResourceType, obj: Obj, current: Obj | None) -> Obj:
    """``obj`` as the API server stores it: pruned and defaulted by the CRD's schema; a 422
    with every cause when it violates it. Built-in types pass through unchanged."""
    found = DEFINITIONS.get(resource.plural)
    if found is None or found.resource != resource:
        return obj
    new, causes = admit(found.schema, obj, current)
    if causes:
        name = str((obj.get("metadata") or {}).get("name") or "")
        raise invalid(resource.kind, resource.group, name, causes)
    return new


# ----- server-side printing (kubectl get) ----------------------------------------------------


def wants_table(accept: str | None) -> bool:
    """Whether the client asked for a ``meta.k8s.io/v1`` Table (kubectl's Accept header)."""
    return TABLE_MEDIA in (accept or "").replace(" ", "").lower()


def json_path(obj: Any, path: str) -> Any:
    """The value at a simple ``.a.b.c`` JSONPath, or None (what a printer column shows)."""
    value = obj
    for part in [p for p in path.split(".") if p]:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def table(resource: ResourceType, listed: Obj) -> Obj:
    """A list answer rendered as the Table ``kubectl get`` prints (Name, then the columns)."""
    found = DEFINITIONS.get(resource.plural)
    columns = found.columns if found is not None else ()
    definitions = [{"name": "Name", "type": "string", "format": "name", "priority": 0}] + [
        {"name": c.name, "type": c.type, "format": "", "priority": c.priority,
         "description": c.description}
        for c in columns
    ]  # fmt: skip
    rows = []
    for item in listed.get("items") or []:
        name = (item.get("metadata") or {}).get("name")
        cells = [name] + [json_path(item, c.json_path) for c in columns]
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": item.get("metadata") or {}}  # fmt: skip
        rows.append({"cells": cells, "object": partial})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": (listed.get("metadata") or {}).get("resourceVersion")},
        "columnDefinitions": definitions,
        "rows": rows,
    }
