"""Builders for the guardrails tests: the shipped policies as data, plans, facts and history.

Every test starts from the real ``policies/default.yaml`` and states only what it changes, so a
change to the shipped defaults shows up here as failing expectations, not silently.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from controller.guardrails.loader import LoadedPolicy, load_policy, load_policy_text
from controller.models.actions import Action, ActionKind, Plan, PlannerKind, Risk
from controller.models.facts import PastAction, TargetFacts
from controller.models.workloads import (
    HpaSpec,
    NamespaceInfo,
    ReplicaStatus,
    Revision,
    ScalingOwner,
    WorkloadInventory,
    WorkloadRef,
)

REPO = Path(__file__).resolve().parents[3]
POLICIES = REPO / "policies"
DEFAULT = POLICIES / "default.yaml"
T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
WEB = WorkloadRef(namespace="shop", name="web")
API = WorkloadRef(namespace="shop", name="api")
OPT_IN = {"aiops.dev/remediate": "enabled"}
FRESH = {"error_ratio": 5.0, "latency_p99": 12.0}


@cache
def default_policy() -> LoadedPolicy:
    """The shipped default policy, loaded through the real loader."""
    return load_policy(DEFAULT)


def default_data() -> dict[str, Any]:
    """A fresh, mutable copy of the default policy as JSON data (camelCase keys)."""
    return copy.deepcopy(default_policy().policy.canonical())


def set_path(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Set ``spec.replicas.ceiling``-style paths in place; returns ``data``."""
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


def policy_with(**changes: Any) -> LoadedPolicy:
    """The default policy with ``spec__replicas__ceiling=10``-style changes, via the loader."""
    data = default_data()
    for dotted, value in changes.items():
        set_path(data, dotted.replace("__", "."), value)
    return load_policy_text(json.dumps(data), "test-policy")


def inventory(
    ref: WorkloadRef = WEB,
    *,
    replicas: int = 4,
    hpa: tuple[str, int, int] | None = None,
    owner: ScalingOwner | None = None,
    revisions: tuple[int, ...] = (1, 2, 3, 4, 5, 6),
) -> WorkloadInventory:
    """A Deployment with ``replicas`` desired, the given revision history (newest current)."""
    history = tuple(
        Revision(revision=n, image=f"registry.example.com/{ref.name}:{n}", created=T0)
        for n in revisions
    )
    return WorkloadInventory(
        ref=ref,
        replicas=ReplicaStatus(desired=replicas, ready=replicas, available=replicas, updated=0),
        hpa=None if hpa is None else HpaSpec(name=hpa[0], min_replicas=hpa[1], max_replicas=hpa[2]),
        scaling_owner=owner or (ScalingOwner.NONE if hpa is None else ScalingOwner.HPA),
        revisions=history,
        current_revision=revisions[-1] if revisions else None,
    )


def facts(
    ref: WorkloadRef | None = WEB,
    *,
    inv: WorkloadInventory | None = None,
    missing: bool = False,
    labels: dict[str, str] | None = None,
    namespace: NamespaceInfo | None | bool = True,
    ages: dict[str, float | None] | None = None,
    blind: bool = False,
    rollout: bool = False,
) -> TargetFacts:
    """Facts about ``ref``: it exists (unless ``missing``), its namespace is opted in (``labels``
    override the labels, ``namespace=False`` drops the namespace info), its inputs are fresh."""
    if namespace is True:
        namespace = (
            None
            if ref is None
            else NamespaceInfo(name=ref.namespace, labels=OPT_IN if labels is None else labels)
        )
    if missing or ref is None:
        inv = None
    elif inv is None:
        inv = inventory(ref)
    return TargetFacts(
        target=ref,
        inventory=inv,
        namespace=namespace or None,
        input_ages=FRESH if ages is None else ages,
        blind=blind,
        rollout_in_progress=rollout,
    )


def plan(action: Action, risk: Risk = Risk.LOW) -> Plan:
    """A runbook plan for ``action``."""
    return Plan(
        incident_id="inc-1",
        planner=PlannerKind.RUNBOOK,
        action=action,
        risk=risk,
        rationale="test",
        snapshot_at=T0,
    )


def past(ago: timedelta, ref: WorkloadRef = WEB, kind: ActionKind = ActionKind.SCALE) -> PastAction:
    """An action applied ``ago`` before T0."""
    return PastAction(at=T0 - ago, target=ref, kind=kind)
