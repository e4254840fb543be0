"""workload_inventory and its parts: pure functions over realistic manifests, no server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.kube.inventory import (
    gitops_owner,
    hpa_spec,
    is_gitops,
    pod_resources,
    scaling_owner,
    slo_spec,
    workload_inventory,
)
from controller.models.workloads import ScalingOwner, WorkloadRef
from tests.adapters.kube import manifests

MI = 2**20


def build(**kwargs: Any):
    values: dict[str, Any] = {
        "deployment": manifests.deployment(),
        "replicasets": manifests.replicasets(),
        "pods": [],
        "hpas": [manifests.hpa()],
        "scaled_objects": [manifests.scaled_object()],
    }
    values.update(kwargs)
    return workload_inventory(
        values.pop("deployment"),
        values.pop("replicasets"),
        values.pop("pods"),
        values.pop("hpas"),
        values.pop("scaled_objects"),
        **values,
    )


def test_full_inventory_of_a_realistic_deployment():
    inventory = build()

    assert inventory.ref == WorkloadRef(namespace="shop", name="checkout")
    assert inventory.service == "checkout-svc"  # from OTEL_SERVICE_NAME
    assert (inventory.replicas.desired, inventory.replicas.ready) == (4, 3)
    assert (inventory.replicas.available, inventory.replicas.updated) == (3, 4)
    assert [r.revision for r in inventory.revisions] == [1, 2, 3]  # cart's RS excluded
    assert [r.image.rsplit(":", 1)[1] for r in inventory.revisions] == ["1.1.0", "1.2.0", "1.3.0"]
    assert inventory.revisions[1].change_cause == "argocd sync: bump to 1.2.0"
    assert inventory.revisions[0].created == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert inventory.current_revision == 3
    assert inventory.current is not None and inventory.current.image.endswith(":1.3.0")
    assert inventory.hpa is not None
    assert (inventory.hpa.name, inventory.hpa.min_replicas, inventory.hpa.max_replicas) == (
        "checkout",
        2,
        10,
    )
    assert inventory.hpa.target_cpu_utilization == 0.75
    assert inventory.scaling_owner is ScalingOwner.HPA  # the HPA outranks the GitOps labels
    assert inventory.slo.availability == pytest.approx(0.9995)
    assert inventory.slo.latency_p99_seconds == pytest.approx(0.3)
    assert inventory.labels["argocd.argoproj.io/instance"] == "shop-checkout"


def test_resources_sum_long_running_containers_of_the_template():
    resources = build().resources

    # app 250m/1 + 256Mi/512Mi, native sidecar 50m/100m + 64Mi/128Mi; the migrate init
    # container (2 CPUs) does not run alongside and is not counted.
    assert resources.cpu_request_cores == pytest.approx(0.3)
    assert resources.cpu_limit_cores == pytest.approx(1.1)
    assert resources.memory_request_bytes == 320 * MI
    assert resources.memory_limit_bytes == 640 * MI


def test_resources_come_from_a_running_pod_when_admission_injected_a_sidecar():
    resources = build(pods=[manifests.crashing_pod()]).resources

    # + istio-proxy 100m/2 + 128Mi/1Gi, present in the pod only.
    assert resources.cpu_request_cores == pytest.approx(0.4)
    assert resources.cpu_limit_cores == pytest.approx(3.1)
    assert resources.memory_request_bytes == 448 * MI
    assert resources.memory_limit_bytes == 1664 * MI


def test_pending_pods_do_not_stand_in_for_the_template():
    resources = build(pods=[manifests.crashing_pod(phase="Pending")]).resources
    assert resources.cpu_request_cores == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("container_resources", "expected"),
    [
        ({}, (None, None, None, None)),
        ({"limits": {"cpu": "2", "memory": "1Gi"}}, (2.0, 2.0, 2**30, 2**30)),
        ({"requests": {"cpu": "500m"}}, (0.5, None, None, None)),
        ({"requests": {"cpu": "0", "memory": "1.5k"}}, (None, None, 1500, None)),
        ({"requests": {"cpu": "lots", "memory": "12Qi"}}, (None, None, None, None)),
    ],
    ids=["none", "limits-imply-requests", "cpu-only", "zero-and-decimal", "garbage"],
)
def test_pod_resources_table(container_resources, expected):
    spec = {"containers": [{"name": "app", "image": "x", "resources": container_resources}]}
    resources = pod_resources(spec)
    assert (
        resources.cpu_request_cores,
        resources.cpu_limit_cores,
        resources.memory_request_bytes,
        resources.memory_limit_bytes,
    ) == expected


def test_a_container_without_limit_means_no_pod_limit():
    spec = {
        "containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
        ]
    }
    resources = pod_resources(spec)
    assert (resources.cpu_limit_cores, resources.memory_limit_bytes) == (None, None)
    assert resources.cpu_request_cores == 2.0


def _with(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None):
    deployment = manifests.deployment()
    deployment["metadata"]["labels"] = labels or {"app": "checkout"}
    deployment["metadata"]["annotations"] = annotations or {}
    return deployment


def _rollout(target: str = "checkout") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout-rollout", "namespace": "shop"},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}},
    }


GITOPS_MANAGED_FIELDS = [
    {
        "manager": "kustomize-controller",
        "operation": "Apply",
        "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
    }
]


@pytest.mark.parametrize(
    ("deployment", "hpas", "scaled", "rollouts", "owner"),
    [
        (_with(), [], [], [], ScalingOwner.NONE),
        (_with(), [manifests.hpa()], [], [], ScalingOwner.HPA),
        (_with(), [manifests.hpa(target="cart")], [], [], ScalingOwner.NONE),
        (
            _with(),
            [manifests.hpa(name="keda-hpa-checkout-scaler")],
            [manifests.scaled_object("checkout")],
            [],
            ScalingOwner.KEDA,
        ),
        (_with(), [], [manifests.scaled_object("checkout", "other")], [], ScalingOwner.NONE),
        (_with(), [manifests.hpa()], [], [_rollout()], ScalingOwner.ARGO_ROLLOUTS),
        (_with(), [], [], [_rollout("cart")], ScalingOwner.NONE),
        (
            _with(annotations={"rollouts.argoproj.io/workload-generation": "3"}),
            [],
            [],
            [],
            ScalingOwner.ARGO_ROLLOUTS,
        ),
        (_with({"argocd.argoproj.io/instance": "shop"}), [], [], [], ScalingOwner.GITOPS),
        (
            _with(annotations={"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/x"}),
            [],
            [],
            [],
            ScalingOwner.GITOPS,
        ),
        (_with({"app.kubernetes.io/managed-by": "argocd"}), [], [], [], ScalingOwner.GITOPS),
        (
            _with({"kustomize.toolkit.fluxcd.io/name": "apps"}),
            [],
            [],
            [],
            ScalingOwner.GITOPS,
        ),
        (
            _with({"app.kubernetes.io/managed-by": "Helm", "helm.toolkit.fluxcd.io/name": "x"}),
            [],
            [],
            [],
            ScalingOwner.GITOPS,
        ),
        (_with({"app.kubernetes.io/managed-by": "Helm"}), [], [], [], ScalingOwner.NONE),
        (
            _with() | {"metadata": _with()["metadata"] | {"managedFields": GITOPS_MANAGED_FIELDS}},
            [],
            [],
            [],
            ScalingOwner.GITOPS,
        ),
    ],
    ids=[
        "plain",
        "hpa",
        "hpa-for-another",
        "keda-with-its-hpa",
        "keda-other-namespace",
        "argo-rollout-workload-ref",
        "argo-rollout-other",
        "argo-annotation",
        "argocd-label",
        "argocd-tracking-annotation",
        "managed-by-argocd",
        "flux-kustomize",
        "flux-helm",
        "plain-helm",
        "gitops-field-manager",
    ],
)
def test_scaling_owner_table(deployment, hpas, scaled, rollouts, owner):
    inventory = build(
        deployment=deployment,
        hpas=hpas,
        scaled_objects=scaled,
        rollouts=rollouts,
    )
    assert inventory.scaling_owner is owner
    hpa = hpas[0] if hpas and hpas[0]["spec"]["scaleTargetRef"]["name"] == "checkout" else None
    assert scaling_owner(deployment, hpa, scaled, rollouts) is owner


def test_gitops_detection_ignores_unrelated_labels():
    assert not is_gitops(_with({"app": "checkout", "team": "payments"}))


TEMPLATE_ONLY_FIELDS = [
    {
        "manager": "argocd-application-controller",
        "operation": "Apply",
        "fieldsV1": {"f:spec": {"f:template": {}}},
    }
]


@pytest.mark.parametrize(
    "deployment",
    [
        _with() | {"metadata": _with()["metadata"] | {"managedFields": TEMPLATE_ONLY_FIELDS}},
        _with(
            {"app.kubernetes.io/instance": "shop"},
            annotations={"argocd.argoproj.io/sync-options": "Prune=false"},
        ),
    ],
    ids=["field-manager-of-the-template-only", "argo-cd-label-tracking"],
)
def test_inventory_sees_gitops_where_the_writer_refuses_it(deployment):
    """One GitOps test for inventory and writer: a sync re-applies the whole manifest."""
    assert (
        build(deployment=deployment, hpas=[], scaled_objects=[]).scaling_owner
        is ScalingOwner.GITOPS
    )
    assert gitops_owner(deployment) is not None


@pytest.mark.parametrize(
    ("annotations", "availability", "latency"),
    [
        ({}, 0.999, None),
        ({"aiops.dev/slo-availability": "0.995"}, 0.995, None),
        ({"aiops.dev/slo-availability": "99.9"}, 0.999, None),
        ({"aiops.dev/slo-availability": "150%"}, 0.999, None),
        ({"aiops.dev/slo-availability": "high"}, 0.999, None),
        ({"aiops.dev/slo-latency-p99": "250ms"}, 0.999, 0.25),
        ({"aiops.dev/slo-latency-p99": "1.5s"}, 0.999, 1.5),
        ({"aiops.dev/slo-latency-p99": "0.4"}, 0.999, 0.4),
        ({"aiops.dev/slo-latency-p99": "2m"}, 0.999, 120.0),
        ({"aiops.dev/slo-latency-p99": "-1s"}, 0.999, None),
        ({"aiops.dev/slo-latency-p99": "0ms"}, 0.999, None),
    ],
)
def test_slo_annotations(annotations, availability, latency):
    slo = slo_spec(_with(annotations=annotations))
    assert slo.availability == pytest.approx(availability)
    assert slo.latency_p99_seconds == (pytest.approx(latency) if latency else None)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"maxReplicas": 5}, (1, 5, None)),
        ({"minReplicas": 3, "maxReplicas": 2}, None),
        ({"minReplicas": 0, "maxReplicas": 2}, None),
        ({"minReplicas": 2}, None),
        (
            {
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 150},
                        },
                    }
                ],
            },
            (1, 4, 1.5),
        ),
        (
            {
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "AverageValue", "averageValue": "500m"},
                        },
                    }
                ],
            },
            (1, 4, None),
        ),
    ],
    ids=["defaults", "inverted", "scale-to-zero", "no-max", "target-over-100", "average-value"],
)
def test_hpa_spec_table(spec, expected):
    model = hpa_spec({"metadata": {"name": "h"}, "spec": spec})
    if expected is None:
        assert model is None
    else:
        assert model is not None
        assert (model.min_replicas, model.max_replicas, model.target_cpu_utilization) == expected


def test_unusable_hpa_still_makes_it_the_owner():
    broken = manifests.hpa()
    broken["spec"]["minReplicas"] = 0  # HPAScaleToZero: outside the model, still an HPA
    inventory = build(hpas=[broken], scaled_objects=[])
    assert inventory.hpa is None
    assert inventory.scaling_owner is ScalingOwner.HPA


def test_current_revision_unknown_when_its_replicaset_is_not_cached():
    inventory = build(replicasets=manifests.replicasets()[:2])
    assert [r.revision for r in inventory.revisions] == [1, 2]
    assert inventory.current_revision is None


def test_replicaset_without_uid_matches_owner_by_name():
    sets = manifests.replicasets()
    for rs in sets:
        rs["metadata"]["ownerReferences"][0].pop("uid")
    deployment = manifests.deployment()
    deployment["metadata"].pop("uid")
    assert [r.revision for r in build(deployment=deployment, replicasets=sets).revisions] == [
        1,
        2,
        3,
    ]


def test_service_annotation_wins_and_defaults_to_none():
    annotated = _with(annotations={"aiops.dev/service": "checkout-api"})
    assert build(deployment=annotated).service == "checkout-api"
    plain = manifests.deployment()
    plain["spec"]["template"]["spec"]["containers"][0]["env"] = []
    inventory = build(deployment=plain)
    assert inventory.service is None
    assert inventory.service_name == "checkout"


def test_spec_replicas_default_to_one():
    deployment = manifests.deployment()
    del deployment["spec"]["replicas"]
    deployment["status"] = {}
    replicas = build(deployment=deployment).replicas
    assert (replicas.desired, replicas.ready, replicas.available, replicas.updated) == (1, 0, 0, 0)
