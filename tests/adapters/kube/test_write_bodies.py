"""The writer's pure parts: template diffs, ownership, receipts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.kube.inventory import gitops_owner
from controller.kube.rollback import merge_diff, template_of
from controller.kube.writes import pre_state_of, receipt_annotations
from controller.sim.kube_api.patches import merge_patch
from tests.adapters.kube import manifests

_SCALARS = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans())
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcde"), inner, max_size=4)
    ),
    max_leaves=12,
)
_OBJECTS = st.dictionaries(st.sampled_from("abcdef"), _JSON, max_size=5)


@settings(max_examples=300, deadline=None)
@given(current=_OBJECTS, target=_OBJECTS)
def test_the_rollback_diff_turns_the_live_template_into_the_target_exactly(
    current: dict[str, Any], target: dict[str, Any]
):
    assert merge_patch(current, merge_diff(current, target)) == target


def test_the_diff_of_a_real_rollback_removes_what_the_new_revision_added():
    live = manifests.deployment()["spec"]["template"]
    live["metadata"]["annotations"] = {"sidecar.istio.io/inject": "true"}
    target = template_of(
        manifests.replicaset("checkout-6c9d8e7f5", 2, "1.2.0", "2026-03-05T10:00:00Z")
    )
    patch = merge_diff(live, target)
    assert patch["metadata"]["annotations"] is None
    assert "pod-template-hash" not in target["metadata"]["labels"]
    assert merge_patch(live, patch) == target


@pytest.mark.parametrize(
    ("labels", "annotations", "expected"),
    [
        ({"argocd.argoproj.io/instance": "shop"}, {}, "Argo CD"),
        ({}, {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/checkout"}, "Argo CD"),
        ({"app.kubernetes.io/instance": "checkout"}, {}, None),
        (
            {"app.kubernetes.io/instance": "checkout"},
            {"argocd.argoproj.io/sync-wave": "1"},
            "Argo CD",
        ),
        ({"kustomize.toolkit.fluxcd.io/name": "apps"}, {}, "Flux"),
        ({"helm.toolkit.fluxcd.io/namespace": "flux-system"}, {}, "Flux"),
        ({"app.kubernetes.io/managed-by": "Helm"}, {}, None),
        ({"app.kubernetes.io/managed-by": "argocd"}, {}, "argocd"),
        ({"app": "checkout"}, {"team": "payments"}, None),
    ],
)
def test_gitops_owner(labels: dict[str, str], annotations: dict[str, str], expected: str | None):
    found = gitops_owner({"metadata": {"labels": labels, "annotations": annotations}})
    assert (found is None) if expected is None else (found is not None and expected in found)


def test_a_gitops_field_manager_counts():
    obj = {"metadata": {"managedFields": [{"manager": "kustomize-controller"}]}}
    assert gitops_owner(obj) == "kustomize-controller (field manager)"


def test_receipts_round_trip():
    notes = receipt_annotations("k1", "scale", {"replicas": 4})
    assert notes["aiops.dev/last-action"] == "k1"
    assert pre_state_of({"metadata": {"annotations": notes}}) == {
        "action": "scale",
        "key": "k1",
        "replicas": 4,
    }
    assert pre_state_of({"metadata": {"annotations": {"aiops.dev/pre-state": "{broken"}}}) is None
