"""Is a Deployment rolling out right now? Pure facts for CH-23 and R16.

The controller must not scale or roll back a workload in the middle of someone else's
rollout, so "in progress" errs on the side of yes: any one of the signals suffices.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from controller.kube.fields import (
    annotations_of,
    condition,
    first_image,
    items,
    mapping,
    meta,
    parse_int,
    parse_time,
    pod_spec_of,
)
from controller.kube.inventory import REVISION_ANNOTATION
from controller.models.base import FrozenModel, UtcDatetime

COMPLETE_REASON = "NewReplicaSetAvailable"
DEADLINE_REASON = "ProgressDeadlineExceeded"


class RolloutFacts(FrozenModel):
    """The rollout state of one Deployment, as its status reports it."""

    in_progress: bool = Field(description="Not yet complete (includes stalled rollouts).")
    stalled: bool = Field(description="Progressing=False with ProgressDeadlineExceeded.")
    paused: bool = Field(description="spec.paused: the rollout is frozen by someone.")
    revision: int | None = Field(default=None, description="The Deployment's revision.")
    image: str | None = Field(default=None, description="Image of the first container.")
    last_change: UtcDatetime | None = Field(
        default=None, description="Latest condition update (else the creation time)."
    )
    generation: int = 0
    observed_generation: int = 0
    desired: int = 0
    updated: int = 0
    reasons: tuple[str, ...] = Field(default=(), description="Why in progress or stalled.")


def rollout_facts(deployment: Mapping[str, Any]) -> RolloutFacts:
    """In progress when the controller has not observed the latest generation, fewer
    replicas than desired run the new template, or ``Progressing`` is not yet
    ``NewReplicaSetAvailable``; stalled when ``Progressing`` is False with
    ``ProgressDeadlineExceeded``."""
    spec, status = mapping(deployment.get("spec")), mapping(deployment.get("status"))
    generation = parse_int(meta(deployment).get("generation")) or 0
    observed = parse_int(status.get("observedGeneration")) or 0
    desired = parse_int(spec.get("replicas"))
    desired = 1 if desired is None else desired
    updated = parse_int(status.get("updatedReplicas")) or 0
    progressing = condition(deployment, "Progressing")
    reasons: list[str] = []
    if observed < generation:
        reasons.append(f"observedGeneration {observed} < generation {generation}")
    if updated < desired:
        reasons.append(f"{updated} of {desired} replicas updated")
    if progressing is not None and progressing.get("reason") != COMPLETE_REASON:
        reasons.append(
            f"Progressing={progressing.get('status')} reason={progressing.get('reason')}"
        )
    stalled = (
        progressing is not None
        and progressing.get("status") == "False"
        and progressing.get("reason") == DEADLINE_REASON
    )
    return RolloutFacts(
        in_progress=bool(reasons),
        stalled=stalled,
        paused=bool(spec.get("paused")),
        revision=parse_int(annotations_of(deployment).get(REVISION_ANNOTATION)),
        image=first_image(pod_spec_of(deployment)),
        last_change=_last_change(deployment),
        generation=generation,
        observed_generation=observed,
        desired=max(0, desired),
        updated=max(0, updated),
        reasons=tuple(reasons),
    )


def _last_change(deployment: Mapping[str, Any]) -> datetime | None:
    known = [
        stamp
        for entry in items(mapping(deployment.get("status")).get("conditions"))
        for stamp in (
            parse_time(entry.get("lastUpdateTime")),
            parse_time(entry.get("lastTransitionTime")),
        )
        if stamp is not None
    ]
    return max(known) if known else parse_time(meta(deployment).get("creationTimestamp"))
