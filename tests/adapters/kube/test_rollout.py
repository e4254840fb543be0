"""rollout_facts: in progress / stalled / complete from a Deployment's status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.kube.rollout import rollout_facts
from tests.adapters.kube import manifests


def progressing(status: str, reason: str, at: str = "2026-03-10T12:30:00Z") -> list[dict[str, str]]:
    return [
        {
            "type": "Progressing",
            "status": status,
            "reason": reason,
            "lastUpdateTime": at,
            "lastTransitionTime": at,
        }
    ]


@pytest.mark.parametrize(
    ("changes", "in_progress", "stalled", "reason_part"),
    [
        ({}, False, False, None),
        ({"metadata__generation": 8}, True, False, "observedGeneration 7 < generation 8"),
        ({"status__updatedReplicas": 2}, True, False, "2 of 4 replicas updated"),
        (
            {"status__conditions": progressing("True", "ReplicaSetUpdated")},
            True,
            False,
            "reason=ReplicaSetUpdated",
        ),
        (
            {"status__conditions": progressing("False", "ProgressDeadlineExceeded")},
            True,
            True,
            "Progressing=False",
        ),
        ({"status__conditions": []}, False, False, None),
        ({"spec__replicas": 0, "status__updatedReplicas": 0}, False, False, None),
    ],
    ids=[
        "complete",
        "generation-not-observed",
        "replicas-not-updated",
        "progressing",
        "stalled",
        "no-conditions",
        "scaled-to-zero",
    ],
)
def test_rollout_states(changes, in_progress, stalled, reason_part):
    facts = rollout_facts(manifests.deployment(**changes))

    assert facts.in_progress is in_progress
    assert facts.stalled is stalled
    if reason_part is None:
        assert facts.reasons == ()
    else:
        assert any(reason_part in reason for reason in facts.reasons), facts.reasons


def test_complete_rollout_facts_in_detail():
    facts = rollout_facts(manifests.deployment())

    assert facts.revision == 3
    assert facts.image == "registry.example.com/shop/checkout:1.3.0"
    assert facts.last_change == datetime(2026, 3, 10, 12, 4, tzinfo=UTC)
    assert (facts.generation, facts.observed_generation) == (7, 7)
    assert (facts.desired, facts.updated) == (4, 4)
    assert facts.paused is False


def test_paused_mid_rollout():
    facts = rollout_facts(manifests.deployment(spec__paused=True, status__updatedReplicas=1))
    assert facts.paused is True
    assert facts.in_progress is True


def test_last_change_falls_back_to_creation_time():
    facts = rollout_facts(manifests.deployment(status__conditions=[]))
    assert facts.last_change == datetime(2026, 2, 1, 9, tzinfo=UTC)


def test_a_bare_object_is_not_fatal():
    facts = rollout_facts({"metadata": {"name": "x"}})
    assert facts.revision is None and facts.image is None and facts.last_change is None
    assert facts.in_progress is True  # 0 of 1 (default) replicas updated: err on "busy"
