"""cluster_events: deploys, rollout conditions, Kubernetes Events and pod states."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controller.kube.events import cluster_events
from controller.models.events import ClusterEvent, EventKind
from tests.adapters.kube import manifests


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def events_of(**kwargs: Any) -> tuple[ClusterEvent, ...]:
    values: dict[str, Any] = {
        "deployment": manifests.deployment(),
        "replicasets": manifests.replicasets(),
        "pods": [manifests.crashing_pod()],
        "events": manifests.events(),
        "hpas": [manifests.hpa()],
    }
    values.update(kwargs)
    until = values.pop("until", None)
    return cluster_events(
        values["deployment"],
        values["replicasets"],
        values["pods"],
        values["events"],
        values["hpas"],
        until=until,
    )


def test_the_whole_story_oldest_first():
    found = events_of()

    assert [(e.time, e.kind, e.reason) for e in found] == [
        (at("2026-03-05T10:00:00Z"), EventKind.DEPLOY, "DeploymentUpdated"),
        (at("2026-03-10T12:00:00Z"), EventKind.DEPLOY, "DeploymentUpdated"),
        (at("2026-03-10T12:00:05Z"), EventKind.SCALE, "ScalingReplicaSet"),
        (at("2026-03-10T12:04:00Z"), EventKind.ROLLOUT_COMPLETE, "NewReplicaSetAvailable"),
        (at("2026-03-10T12:10:00Z"), EventKind.SCALE, "SuccessfulRescale"),
        (at("2026-03-10T12:15:00Z"), EventKind.POD_CRASH, "BackOff"),
        (at("2026-03-10T12:16:00Z"), EventKind.KUBERNETES, "BackOff"),  # image pull
        (at("2026-03-10T12:17:00Z"), EventKind.KUBERNETES, "FailedScheduling"),
        (at("2026-03-10T12:21:30Z"), EventKind.POD_CRASH, "CrashLoopBackOff"),
        (at("2026-03-10T12:21:30Z"), EventKind.OOM_KILLED, "OOMKilled"),
    ]
    assert all(e.workload.key == "shop/checkout" for e in found)


def test_deploys_carry_revisions_images_and_change_cause():
    deploys = [e for e in events_of() if e.kind is EventKind.DEPLOY]

    assert [(e.revision, e.previous_revision) for e in deploys] == [(2, 1), (3, 2)]
    assert [e.image for e in deploys] == [
        "registry.example.com/shop/checkout:1.2.0",
        "registry.example.com/shop/checkout:1.3.0",
    ]
    assert deploys[0].message.endswith("(argocd sync: bump to 1.2.0)")
    assert "revision 2 -> 3" in deploys[1].message


def test_pod_state_events_describe_the_container():
    found = {e.kind: e for e in events_of() if e.reason in ("OOMKilled", "CrashLoopBackOff")}

    assert "container app in pod checkout-7f9c6d5b8-h2kxq was OOMKilled" in (
        found[EventKind.OOM_KILLED].message
    )
    assert "exit code 137, restarts 5" in found[EventKind.OOM_KILLED].message
    assert "last exit: OOMKilled" in found[EventKind.POD_CRASH].message


def test_untrusted_messages_are_cleaned_and_truncated():
    scheduling = next(e for e in events_of() if e.reason == "FailedScheduling")

    assert "\x1b" not in scheduling.message
    assert len(scheduling.message) == 4096
    assert scheduling.message.endswith("…")
    assert scheduling.actor == "default-scheduler"


def test_until_cuts_the_history():
    found = events_of(until=at("2026-03-10T12:10:00Z"))
    assert len(found) == 5
    assert found[-1].reason == "SuccessfulRescale"


def test_other_workloads_events_are_excluded():
    found = events_of()
    assert not any("cart" in e.message for e in found)


def test_crash_backoff_event_suppresses_the_state_derived_crash():
    backoff = manifests.event(
        "BackOff",
        "Pod",
        "checkout-7f9c6d5b8-h2kxq",
        "Back-off restarting failed container app",
        "2026-03-10T12:22:00Z",
        component="kubelet",
    )
    crashes = [e for e in events_of(events=[backoff]) if e.kind is EventKind.POD_CRASH]
    assert [(c.reason, c.time) for c in crashes] == [("BackOff", at("2026-03-10T12:22:00Z"))]


def test_rollback_reuses_an_old_replicaset():
    sets = manifests.replicasets()
    sets[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    deployment = manifests.deployment()
    deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    scaled_up = manifests.event(
        "ScalingReplicaSet",
        "Deployment",
        "checkout",
        "Scaled up replica set checkout-5d8f7c9b6 to 1",
        "2026-03-10T13:00:00Z",
    )

    with_event = [
        e
        for e in events_of(deployment=deployment, replicasets=sets, events=[scaled_up])
        if e.kind is EventKind.DEPLOY
    ]
    without = [
        e
        for e in events_of(deployment=deployment, replicasets=sets, events=[])
        if e.kind is EventKind.DEPLOY
    ]

    assert [(e.revision, e.previous_revision, e.reason) for e in with_event] == [
        (3, 2, "DeploymentUpdated"),
        (4, 3, "DeploymentRollback"),
    ]
    assert with_event[1].time == at("2026-03-10T13:00:00Z")
    assert with_event[1].image == "registry.example.com/shop/checkout:1.1.0"
    assert without[1].time == at("2026-03-10T12:00:00Z")  # lower bound: revision 3's creation


def test_stalled_rollout_event():
    stalled = manifests.deployment(
        status__conditions=[
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "checkout-7f9c6d5b8" has timed out progressing.',
                "lastUpdateTime": "2026-03-10T12:11:00Z",
                "lastTransitionTime": "2026-03-10T12:11:00Z",
            }
        ]
    )
    found = [
        e
        for e in events_of(deployment=stalled, events=[], pods=[])
        if e.kind in (EventKind.ROLLOUT_STALLED, EventKind.ROLLOUT_COMPLETE)
    ]
    assert [(e.kind, e.time, e.revision) for e in found] == [
        (EventKind.ROLLOUT_STALLED, at("2026-03-10T12:11:00Z"), 3)
    ]
    assert "timed out" in found[0].message


def test_events_without_any_time_are_skipped():
    timeless = manifests.event("Killing", "Pod", "checkout-7f9c6d5b8-h2kxq", "Stopping", "x")
    for field in ("firstTimestamp", "lastTimestamp"):
        timeless.pop(field)
    found = events_of(events=[timeless], pods=[])
    assert not any(e.reason == "Killing" for e in found)
