"""A Deployment's history as ``ClusterEvent`` values: pure functions over cached objects.

Sources, each mapped once:

- ReplicaSets: every revision after the oldest known one is a ``deploy`` (with the
  revision it replaced and its image). A rollback re-uses an old ReplicaSet, so its
  creation time predates the deploy: the time then comes from the ``ScalingReplicaSet``
  event that scaled it up again, else the lower bound (the replaced revision's creation);
- the Deployment's ``Progressing`` condition: ``rollout_complete`` / ``rollout_stalled``;
- core/v1 Events about the Deployment, its ReplicaSets, its pods and its HPA:
  ``ScalingReplicaSet`` and ``SuccessfulRescale`` are ``scale``, a container restart
  ``BackOff`` is ``pod_crash``, anything else is ``kubernetes``;
- pod status: ``CrashLoopBackOff`` is ``pod_crash`` (unless an Event already said so for
  that pod) and a last termination ``OOMKilled`` is ``oom_killed``.

Reasons and messages are untrusted text: control characters removed, cut to the model's
limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

from controller.kube.fields import (
    annotations_of,
    clean_text,
    condition,
    first_image,
    items,
    mapping,
    meta,
    name_of,
    namespace_of,
    owned_by,
    parse_int,
    parse_time,
    pod_spec_of,
)
from controller.kube.inventory import (
    CHANGE_CAUSE_ANNOTATION,
    REVISION_ANNOTATION,
    hpa_for,
    owned_replicasets,
    revision_of,
    workload_ref,
)
from controller.kube.rollout import COMPLETE_REASON, DEADLINE_REASON
from controller.models.events import ClusterEvent, EventKind
from controller.models.workloads import WorkloadRef

Obj = Mapping[str, Any]

REASON_LIMIT = 256
MESSAGE_LIMIT = 4096
_SCALE_REASONS = frozenset({"ScalingReplicaSet", "SuccessfulRescale"})
_ORDER = {kind: index for index, kind in enumerate(EventKind)}


def cluster_events(
    deployment: Obj,
    replicasets: Sequence[Obj],
    pods: Sequence[Obj],
    events: Sequence[Obj],
    hpas: Sequence[Obj] = (),
    *,
    until: datetime | None = None,
) -> tuple[ClusterEvent, ...]:
    """Every event of ``deployment`` up to ``until`` (all when None), oldest first.

    The sequences may hold a whole namespace: ownership and involved objects decide
    what belongs to this Deployment.
    """
    ref = workload_ref(deployment)
    owned = owned_replicasets(deployment, replicasets)
    own_pods = [
        pod
        for pod in pods
        if namespace_of(pod) == ref.namespace
        and any(owned_by(pod, "ReplicaSet", rs) for rs in owned)
    ]
    related = _related_events(deployment, owned, own_pods, hpas, events)
    found = [
        *deploy_events(ref, owned, related),
        *condition_events(ref, deployment),
        *(_from_kubernetes_event(ref, event) for event in related),
        *pod_state_events(ref, own_pods, _pods_with_backoff(related)),
    ]
    kept = [e for e in found if e is not None and (until is None or e.time <= until)]
    return tuple(sorted(kept, key=_sort_key))


def _sort_key(event: ClusterEvent) -> tuple[datetime, int, str, str]:
    return (event.time, _ORDER[event.kind], event.reason, event.message)


def _event(
    ref: WorkloadRef, time: datetime, kind: EventKind, reason: Any, message: Any, **extra: Any
) -> ClusterEvent:
    return ClusterEvent(
        time=time,
        kind=kind,
        workload=ref,
        reason=clean_text(reason, REASON_LIMIT),
        message=clean_text(message, MESSAGE_LIMIT),
        **extra,
    )


# ----- deploys -----


def deploy_events(
    ref: WorkloadRef, owned: Sequence[Obj], related: Sequence[Obj] = ()
) -> list[ClusterEvent]:
    """One ``deploy`` per revision that replaced an earlier one (oldest revision: none)."""
    newest: dict[int, Obj] = {}
    for rs in owned:
        number = revision_of(rs)
        created = parse_time(meta(rs).get("creationTimestamp"))
        if number is None or created is None or first_image(pod_spec_of(rs)) is None:
            continue
        known = newest.get(number)
        if known is None or created > (_created(known) or created):
            newest[number] = rs
    ordered = [newest[n] for n in sorted(newest)]
    return [_deploy(ref, before, after, related) for before, after in pairwise(ordered)]


def _created(obj: Obj) -> datetime | None:
    return parse_time(meta(obj).get("creationTimestamp"))


def _deploy(ref: WorkloadRef, before: Obj, after: Obj, related: Sequence[Obj]) -> ClusterEvent:
    before_time, after_time = _created(before), _created(after)
    assert before_time is not None and after_time is not None  # filtered by deploy_events
    reused = after_time < before_time
    time = _scaled_up_at(name_of(after), before_time, related) if reused else after_time
    image, previous_image = first_image(pod_spec_of(after)), first_image(pod_spec_of(before))
    revision, previous = revision_of(after), revision_of(before)
    cause = annotations_of(after).get(CHANGE_CAUSE_ANNOTATION, "")
    message = f"revision {previous} -> {revision}: image {previous_image} -> {image}"
    return _event(
        ref,
        time,
        EventKind.DEPLOY,
        "DeploymentRollback" if reused else "DeploymentUpdated",
        f"{message} ({cause})" if cause else message,
        revision=revision,
        previous_revision=previous,
        image=image,
    )


def _scaled_up_at(replicaset: str, not_before: datetime, related: Sequence[Obj]) -> datetime:
    """When a re-used ReplicaSet was scaled up again (its deploy time), else ``not_before``."""
    times = [
        when
        for event in related
        if event.get("reason") == "ScalingReplicaSet"
        and f"Scaled up replica set {replicaset} " in str(event.get("message") or "")
        and (when := event_time(event)) is not None
        and when >= not_before
    ]
    return min(times) if times else not_before


# ----- rollout conditions -----


def condition_events(ref: WorkloadRef, deployment: Obj) -> list[ClusterEvent]:
    """``rollout_complete`` or ``rollout_stalled`` from the ``Progressing`` condition."""
    progressing = condition(deployment, "Progressing")
    if progressing is None:
        return []
    time = parse_time(progressing.get("lastUpdateTime")) or parse_time(
        progressing.get("lastTransitionTime")
    )
    if time is None:
        return []
    revision = parse_int(annotations_of(deployment).get(REVISION_ANNOTATION))
    revision = revision if revision is not None and revision >= 1 else None
    status, reason = progressing.get("status"), progressing.get("reason")
    if status == "True" and reason == COMPLETE_REASON:
        kind = EventKind.ROLLOUT_COMPLETE
    elif status == "False" and reason == DEADLINE_REASON:
        kind = EventKind.ROLLOUT_STALLED
    else:
        return []
    return [_event(ref, time, kind, reason, progressing.get("message"), revision=revision)]


# ----- core/v1 Events -----


def event_time(event: Obj) -> datetime | None:
    """When a core/v1 Event last happened (series, lastTimestamp, eventTime, first...)."""
    for value in (
        mapping(event.get("series")).get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        meta(event).get("creationTimestamp"),
    ):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return None


def _related_events(
    deployment: Obj,
    owned: Sequence[Obj],
    own_pods: Sequence[Obj],
    hpas: Sequence[Obj],
    events: Iterable[Obj],
) -> list[Obj]:
    """Events whose involved object is the Deployment, one of its ReplicaSets or pods
    (also pods already gone, by the ``<replicaset>-`` name prefix), or its HPA."""
    namespace = namespace_of(deployment)
    rs_names = {name_of(rs) for rs in owned}
    pod_names = {name_of(pod) for pod in own_pods}
    hpa = hpa_for(deployment, hpas)
    names: dict[str, set[str]] = {
        "Deployment": {name_of(deployment)},
        "ReplicaSet": rs_names,
        "Pod": pod_names,
        "HorizontalPodAutoscaler": {name_of(hpa)} if hpa is not None else set(),
    }

    def involves(kind: str, name: str) -> bool:
        if name in names.get(kind, set()):
            return True
        return kind == "Pod" and any(name.startswith(rs + "-") for rs in rs_names)

    related = []
    for event in events:
        involved = mapping(event.get("involvedObject"))
        if str(involved.get("namespace") or namespace_of(event)) == namespace and involves(
            str(involved.get("kind") or ""), str(involved.get("name") or "")
        ):
            related.append(event)
    return related


def _is_crash_backoff(event: Obj) -> bool:
    message = str(event.get("message") or "")
    return event.get("reason") == "BackOff" and "pulling image" not in message.lower()


def _pods_with_backoff(related: Sequence[Obj]) -> set[str]:
    return {
        str(mapping(e.get("involvedObject")).get("name") or "")
        for e in related
        if _is_crash_backoff(e)
    }


def _from_kubernetes_event(ref: WorkloadRef, event: Obj) -> ClusterEvent | None:
    time = event_time(event)
    if time is None:
        return None
    reason = str(event.get("reason") or "")
    if reason in _SCALE_REASONS:
        kind = EventKind.SCALE
    elif _is_crash_backoff(event):
        kind = EventKind.POD_CRASH
    else:
        kind = EventKind.KUBERNETES
    source = mapping(event.get("source")).get("component") or event.get("reportingComponent")
    return _event(
        ref, time, kind, reason, event.get("message"), actor=clean_text(source, 253) or None
    )


# ----- pod status -----


def pod_state_events(
    ref: WorkloadRef, pods: Sequence[Obj], reported: set[str] | frozenset[str] = frozenset()
) -> list[ClusterEvent]:
    """``pod_crash`` for CrashLoopBackOff (pods not in ``reported``) and ``oom_killed``."""
    found: list[ClusterEvent] = []
    for pod in pods:
        status = mapping(pod.get("status"))
        for container in items(status.get("containerStatuses")):
            found.extend(_container_events(ref, pod, container, name_of(pod) in reported))
    return found


def _container_events(
    ref: WorkloadRef, pod: Obj, container: Obj, crash_reported: bool
) -> list[ClusterEvent]:
    state, last = mapping(container.get("state")), mapping(container.get("lastState"))
    last_end = mapping(last.get("terminated"))
    now_end = mapping(state.get("terminated"))
    pod_name, name = name_of(pod), str(container.get("name") or "?")
    restarts = container.get("restartCount", 0)
    found = []
    for ended in (last_end, now_end):
        when = parse_time(ended.get("finishedAt")) or parse_time(ended.get("startedAt"))
        if ended.get("reason") == "OOMKilled" and when is not None:
            message = (
                f"container {name} in pod {pod_name} was OOMKilled "
                f"(exit code {ended.get('exitCode', '?')}, restarts {restarts})"
            )
            found.append(_event(ref, when, EventKind.OOM_KILLED, "OOMKilled", message))
    waiting = mapping(state.get("waiting"))
    if waiting.get("reason") == "CrashLoopBackOff" and not crash_reported:
        when = parse_time(last_end.get("finishedAt")) or parse_time(
            mapping(pod.get("status")).get("startTime")
        )
        if when is not None:
            message = (
                f"container {name} in pod {pod_name} is in CrashLoopBackOff "
                f"(last exit: {last_end.get('reason', 'unknown')}, restarts {restarts})"
            )
            found.append(_event(ref, when, EventKind.POD_CRASH, "CrashLoopBackOff", message))
    return found
