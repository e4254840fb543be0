"""The shop: its services, call edges and the pieces every example incident shares.

Numbers are chosen to look like a small online shop on a normal afternoon: frontend receives
120 req/s, a third of its requests go through checkout, most checkouts call payments. CPU,
latency and error baselines sit well inside every detection threshold (see
controller/settings.py, DetectionSettings), so only the injected fault can trip one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from incident_synth import MIB, NAMESPACE, Edge, Rendered, Scene, ServiceSpec

from controller.models.events import ClusterEvent, EventKind
from controller.models.incident_file import (
    GroundTruth,
    IncidentFile,
    IncidentMetadata,
    RecordedDecisions,
    TimeWindow,
)
from controller.models.workloads import (
    HpaSpec,
    NamespaceInfo,
    ReplicaStatus,
    Resources,
    Revision,
    ScalingOwner,
    SloSpec,
    WorkloadInventory,
    WorkloadRef,
)

SHOP = NamespaceInfo(name=NAMESPACE, labels={"aiops.dev/remediate": "enabled"})

FRONTEND = ServiceSpec(
    name="frontend",
    replicas=6,
    cpu_request=0.5,
    cpu_limit=1.0,
    memory_request_mib=256,
    memory_limit_mib=512,
    cpu_idle=0.12,
    cpu_at_ref=0.36,
    p50=0.018,
    p99=0.085,
    error_ratio=0.0004,
    memory=0.52,
    slo_p99=1.5,
    versions=(
        ("3.6.0", 41.2, "frontend 3.6.0: new product listing"),
        ("3.7.0", 27.9, "frontend 3.7.0: search-as-you-type"),
        ("3.7.1", 22.1, "frontend 3.7.1: fix image lazy loading"),
        ("3.8.1", 9.3, "frontend 3.8.1: checkout button redesign"),
    ),
    first_revision=21,
    entry_rps=120.0,
)

CHECKOUT = ServiceSpec(
    name="checkout",
    replicas=4,
    cpu_request=0.5,
    cpu_limit=1.0,
    memory_request_mib=512,
    memory_limit_mib=1024,
    cpu_idle=0.1,
    cpu_at_ref=0.45,
    p50=0.05,
    p99=0.2,
    error_ratio=0.0007,
    memory=0.48,
    slo_p99=1.0,
    versions=(
        ("1.12.0", 48.0, "checkout 1.12.0: saved addresses"),
        ("1.13.0", 33.6, "checkout 1.13.0: gift cards"),
        ("1.13.1", 30.2, "checkout 1.13.1: fix gift card rounding"),
        ("1.14.2", 11.4, "checkout 1.14.2: tax service client upgrade"),
    ),
    first_revision=4,
)

PAYMENTS = ServiceSpec(
    name="payments",
    replicas=4,
    cpu_request=0.5,
    cpu_limit=1.0,
    memory_request_mib=384,
    memory_limit_mib=768,
    cpu_idle=0.1,
    cpu_at_ref=0.42,
    p50=0.06,
    p99=0.2,
    error_ratio=0.0006,
    memory=0.47,
    slo_p99=1.0,
    versions=(
        ("2.0.0", 62.0, "payments 2.0.0: new PSP adapter"),
        ("2.1.0", 37.5, "payments 2.1.0: 3-D Secure 2"),
        ("2.2.1", 14.8, "payments 2.2.1: refund retries"),
    ),
    first_revision=1,
)

SEARCH = ServiceSpec(
    name="search",
    replicas=6,
    cpu_request=0.75,
    cpu_limit=1.0,
    memory_request_mib=1024,
    memory_limit_mib=2048,
    cpu_idle=0.06,
    cpu_at_ref=0.64,
    p50=0.035,
    p99=0.2,
    error_ratio=0.0005,
    memory=0.58,
    slo_p99=0.75,
    versions=(
        ("4.2.0", 40.0, "search 4.2.0: synonyms"),
        ("4.2.1", 26.3, "search 4.2.1: fix facet counts"),
        ("4.3.0", 12.1, "search 4.3.0: typo tolerance"),
    ),
    first_revision=10,
    hpa=HpaSpec(name="search", min_replicas=3, max_replicas=6, target_cpu_utilization=0.7),
)

CART = ServiceSpec(
    name="cart",
    replicas=3,
    cpu_request=0.25,
    cpu_limit=0.5,
    memory_request_mib=384,
    memory_limit_mib=768,
    cpu_idle=0.12,
    cpu_at_ref=0.33,
    p50=0.012,
    p99=0.06,
    error_ratio=0.0003,
    memory=0.45,
    slo_p99=0.5,
    versions=(
        ("2.5.0", 35.0, "cart 2.5.0: persistent carts"),
        ("2.6.3", 19.7, "cart 2.6.3: fix merge of guest carts"),
        ("2.7.0", 6.2, "cart 2.7.0: promo code engine"),
    ),
    first_revision=15,
)

FRONTEND_CHECKOUT = Edge("frontend", "checkout", 1 / 3)
FRONTEND_SEARCH = Edge("frontend", "search", 0.6)
FRONTEND_CART = Edge("frontend", "cart", 0.5)
CHECKOUT_PAYMENTS = Edge("checkout", "payments", 0.8, passthrough=0.35)
CHECKOUT_CART = Edge("checkout", "cart", 1.0)


def assemble(
    *,
    name: str,
    title: str,
    description: str,
    scene: Scene,
    rendered: Rendered,
    workloads: list[WorkloadInventory] | None = None,
    events: list[ClusterEvent],
    recorded: RecordedDecisions,
    truth: GroundTruth,
) -> IncidentFile:
    """Put one example together through the models, so it is valid by construction.

    Workloads not passed explicitly get their plain inventory at the window start.
    """
    given = {w.ref.name: w for w in workloads or []}
    inventories = [
        given.get(s.name)
        or inventory(s, window_start=scene.start, replicas=rendered.start_replicas[s.name])
        for s in scene.services
    ]
    return IncidentFile(
        apiVersion="aiops.dev/v1alpha1",
        kind="Incident",
        metadata=IncidentMetadata(name=name, title=title, description=description),
        window=TimeWindow(start=scene.start, end=scene.end, step=timedelta(seconds=scene.step)),
        namespaces=(SHOP,),
        workloads=tuple(inventories),
        series=rendered.series,
        traces=rendered.traces,
        events=tuple(sorted([*events, *rendered.events], key=lambda e: e.time)),
        recorded=recorded,
        ground_truth=truth,
    )


def inventory(
    spec: ServiceSpec,
    *,
    window_start: datetime,
    replicas: int,
    new_revision: tuple[str, datetime, str] | None = None,
) -> WorkloadInventory:
    """The workload's inventory as captured for the incident.

    A deploy inside the window adds its revision to the history, with its creation time, and
    that revision is ``current_revision``: the one live when the fault begins, which is what
    the planners and guardrails must roll back from. The deploy event at the same time and
    the revisions' ``created`` times still tell what ran before it.
    """
    revisions = [
        Revision(
            revision=spec.first_revision + i,
            image=spec.image(version),
            created=window_start - timedelta(days=days_before),
            change_cause=cause,
        )
        for i, (version, days_before, cause) in enumerate(spec.versions)
    ]
    current = spec.current_revision
    if new_revision is not None:
        version, created, cause = new_revision
        current += 1
        revisions.append(
            Revision(
                revision=spec.current_revision + 1,
                image=spec.image(version),
                created=created,
                change_cause=cause,
            )
        )
    return WorkloadInventory(
        ref=spec.ref,
        replicas=ReplicaStatus(
            desired=replicas, ready=replicas, available=replicas, updated=replicas
        ),
        resources=Resources(
            cpu_request_cores=spec.cpu_request,
            cpu_limit_cores=spec.cpu_limit,
            memory_request_bytes=spec.memory_request_mib * MIB,
            memory_limit_bytes=spec.memory_limit_mib * MIB,
        ),
        hpa=spec.hpa,
        scaling_owner=ScalingOwner.NONE if spec.hpa is None else ScalingOwner.HPA,
        revisions=tuple(revisions),
        current_revision=current,
        slo=SloSpec(availability=0.999, latency_p99_seconds=spec.slo_p99),
        labels={
            "app.kubernetes.io/name": spec.name,
            "app.kubernetes.io/part-of": "shop",
            "app.kubernetes.io/version": spec.versions[-1][0],
        },
    )


def event(
    scene: Scene, minute: float, kind: EventKind, ref: WorkloadRef, reason: str, message: str
) -> ClusterEvent:
    return ClusterEvent(
        time=scene.at(minute), kind=kind, workload=ref, reason=reason, message=message
    )


def deploy(
    scene: Scene,
    minute: float,
    spec: ServiceSpec,
    versions: tuple[tuple[int, str], tuple[int, str]],
    actor: str,
    *,
    rollback: bool = False,
) -> ClusterEvent:
    """A deploy event from ``versions[0]`` to ``versions[1]``, each (revision, version)."""
    (old_rev, old_version), (new_rev, new_version) = versions
    if rollback:
        reason, message = (
            "DeploymentRollback",
            f'Rolled back deployment "{spec.name}" to revision {new_rev}',
        )
    else:
        reason = "DeploymentUpdated"
        message = f"argocd sync shop/{spec.name}: image {spec.image(old_version)} -> {new_version}"
    return ClusterEvent(
        time=scene.at(minute),
        kind=EventKind.DEPLOY,
        workload=spec.ref,
        reason=reason,
        message=message,
        revision=new_rev,
        previous_revision=old_rev,
        image=spec.image(new_version),
        actor=actor,
    )


def rollout_complete(
    scene: Scene, minute: float, spec: ServiceSpec, revision: int | None
) -> ClusterEvent:
    return ClusterEvent(
        time=scene.at(minute),
        kind=EventKind.ROLLOUT_COMPLETE,
        workload=spec.ref,
        reason="NewReplicaSetAvailable",
        message=f'Deployment "{spec.name}" has successfully progressed.',
        revision=revision,
    )
