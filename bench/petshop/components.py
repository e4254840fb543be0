"""PetShop components as workloads: names, kinds and the inventory each one gets.

Every one of the 41-44 components of a scenario becomes a workload, because the evaluation
ranks *all* workloads for the root cause and one root cause (``petInfo_AWS::DynamoDB::Table``)
is a table, not a container. The incident format knows only Deployments, so:

- containers (ECS tasks, the PetSite frontend) and Lambda functions are Deployments the
  controller may change: ``scaling_owner: none``, two replicas (the dataset does not say how
  many ran), and a rollout history (revisions 1 and 2) so a rollback has somewhere to go;
- databases, tables and queues are workloads too, whose replicas stand for provisioned
  capacity: the controller may scale them (adding capacity is the mitigation of a load
  surge), but they have a single revision, so there is never anything to roll back;
- load balancers, AWS API endpoints, remote hosts, X-Ray ``*_client`` views, the API gateway
  and the Step Functions state machine are dependencies the controller does not own:
  ``scaling_owner: gitops`` (someone else decides their size) and a single revision, so no
  action on them can take effect and an incident there can only be escalated.

All of a scenario's workloads share one namespace, ``petshop-<scenario>``, opted in to
remediation by the default policy's label. Workload names are the component names made DNS
safe (lower case, runs of other characters to ``-``); two components differing only in case
(the ELB ``Servi-searc...`` and ``servi-searc...``) get a short hash suffix. The original
component name is the workload's ``service`` (its name in the trace series) and a label.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

REMEDIATE_LABEL = {"aiops.dev/remediate": "enabled"}


class ComponentType(StrEnum):
    """What a PetShop component is, read from its X-Ray name."""

    CONTAINER = "container"
    FUNCTION = "function"
    DATABASE = "database"
    QUEUE = "queue"
    LOAD_BALANCER = "load-balancer"
    CLIENT = "client"
    REMOTE = "remote"
    AWS_API = "aws-api"
    GATEWAY = "gateway"
    WORKFLOW = "workflow"

    @property
    def remediable(self) -> bool:
        """Whether the controller may change it (compute and capacity)."""
        return self in _OWNED

    @property
    def has_rollouts(self) -> bool:
        """Whether code is deployed to it (so a rollback can exist)."""
        return self in (ComponentType.CONTAINER, ComponentType.FUNCTION)


_OWNED = frozenset(
    {ComponentType.CONTAINER, ComponentType.FUNCTION, ComponentType.DATABASE, ComponentType.QUEUE}
)

_RULES: tuple[tuple[str, ComponentType], ...] = (
    (r"_AWS::ECS::(Fargate|Container)$", ComponentType.CONTAINER),
    (r"^PetSite$", ComponentType.CONTAINER),
    (r"(_AWS::Lambda(::Function)?|^lambda_step_[A-Za-z0-9]+)$", ComponentType.FUNCTION),
    (r"(DynamoDB|Database::SQL|PGSQL)", ComponentType.DATABASE),
    (r"(SQS::Queue|SimpleNotificationService)", ComponentType.QUEUE),
    (r"elb\.amazonaws\.com_remote$", ComponentType.LOAD_BALANCER),
    (r"_client$", ComponentType.CLIENT),
    (r"ApiGateway", ComponentType.GATEWAY),
    (r"StepFunctions", ComponentType.WORKFLOW),
    (r"_remote$", ComponentType.REMOTE),
)


def component_type(component: str) -> ComponentType:
    """The component's type by the first matching naming rule; AWS APIs otherwise."""
    for pattern, kind in _RULES:
        if re.search(pattern, component):
            return kind
    return ComponentType.AWS_API


def _slug(component: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", component.lower()).strip("-")[:200]


def workload_names(components: Iterable[str]) -> dict[str, str]:
    """Component -> DNS-safe workload name, unique within the scenario."""
    ordered = sorted(set(components))
    counts: dict[str, int] = {}
    for component in ordered:
        counts[_slug(component)] = counts.get(_slug(component), 0) + 1
    names = {}
    for component in ordered:
        slug = _slug(component)
        if counts[slug] > 1:
            slug = f"{slug}-{hashlib.sha256(component.encode()).hexdigest()[:6]}"
        names[component] = slug
    return names


@dataclass(frozen=True, slots=True)
class Scenario:
    """One traffic scenario: its namespace and the workload behind each component."""

    key: str
    namespace: str
    names: Mapping[str, str]

    def ref(self, component: str) -> dict[str, str]:
        """The workload reference of a component."""
        return {"namespace": self.namespace, "name": self.names[component]}


def scenario(key: str, components: Iterable[str]) -> Scenario:
    """``high_traffic`` -> namespace ``petshop-high-traffic`` with its workload names."""
    return Scenario(key, "petshop-" + key.replace("_", "-"), workload_names(components))


def _revision(number: int, component: str, created: str, cause: str) -> dict[str, Any]:
    image = f"petshop.example/{_slug(component)}:r{number}"
    return {"revision": number, "image": image, "created": created, "change_cause": cause}


def inventory(s: Scenario, component: str, *, deployed_at: str | None) -> dict[str, Any]:
    """The workload's inventory at the window start.

    ``deployed_at`` (a code change injected with ``cdk deploy``) adds revision 2 created then,
    as the rollout the deploy event names. Without it the history still has two revisions
    for compute (revision 2 the running one, created before the window), so a rollback is
    possible in principle and the runbook decides whether it is warranted.
    """
    kind = component_type(component)
    entry: dict[str, Any] = {
        "ref": s.ref(component),
        "service": component,
        "replicas": {"desired": 2, "ready": 2, "available": 2, "updated": 2},
        "scaling_owner": "none" if kind.remediable else "gitops",
        "labels": {"aiops.dev/component-type": kind.value, "petshop/component": component[:63]},
    }
    if kind.has_rollouts:
        before = "2023-01-01T00:00:00Z"
        created = deployed_at or before
        entry["revisions"] = [
            _revision(1, component, before if deployed_at else "2022-12-01T00:00:00Z", "initial"),
            _revision(2, component, created, "cdk deploy" if deployed_at else "release"),
        ]
        entry["current_revision"] = 2
    else:
        entry["revisions"] = [_revision(1, component, "2022-12-01T00:00:00Z", "provisioned")]
        entry["current_revision"] = 1
    return entry
