"""Scaling adapters (KEDA, Argo Rollouts): the real client over HTTP against the loopback fake.

A workload whose replicas KEDA or Argo Rollouts owns is scaled by changing *their* object
(the ScaledObject's minReplicaCount/maxReplicaCount; the Rollout's spec.replicas, or the
bounds of the HPA that targets the Rollout), and only when the writer was built with that
adapter allowed (the policy's ``spec.scaling.adapters``). The fake's request log is the
ground truth: what was patched, in which order, with which body and content type.
"""

from __future__ import annotations

import pytest

from controller.errors import TemporaryError
from controller.kube.writer import KubeWriter
from controller.kube.writes import FIELD_MANAGER, MERGE_PATCH
from controller.models.actions import (
    AdjustHpaAction,
    RestartAction,
    ScaleAction,
    ScalingAdapter,
    inverse,
)
from controller.models.decisions import ActionStatus
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi, Fault
from tests.adapters.kube import manifests
from tests.adapters.kube.adapters_rig import (
    ARGO,
    ARGO_ADJUST,
    ARGO_SCALE,
    KEDA,
    KEDA_ADJUST,
    REVERT_KEY,
    bounds,
    real,
    rig_with,
    seed_argo,
    seed_keda,
)
from tests.adapters.kube.conftest import CacheFactory
from tests.adapters.kube.writing import (
    CHECKOUT,
    KEY,
    NOW,
    pre_state,
    receipt,
    seed,
    short,
    stored,
    writes,
)

# ----- KEDA ----------------------------------------------------------------------------------


def test_keda_bounds_change_on_the_scaled_object_and_the_deployment_is_untouched(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,))
    before = stored(fake_api)
    version = stored(fake_api, "scaledobjects", "checkout-scaler")["metadata"]["resourceVersion"]

    result = rig.run(KEDA_ADJUST)

    assert result.status is ActionStatus.APPLIED, result.detail
    sent = writes(fake_api)
    assert [short(r) for r in sent] == [
        "PATCH scaledobjects/checkout-scaler dry-run",
        "PATCH scaledobjects/checkout-scaler",
    ]
    assert all(r.content_type == MERGE_PATCH and r.status == 200 for r in sent)
    assert all(r.params.get("fieldManager") == FIELD_MANAGER for r in sent)
    assert sent[0].params.get("dryRun") == "All"
    body = sent[1].body
    assert body["spec"] == {"minReplicaCount": 2, "maxReplicaCount": 40}
    assert body["metadata"]["resourceVersion"] == version  # conditional on its own version
    scaled = stored(fake_api, "scaledobjects", "checkout-scaler")
    assert bounds(scaled) == (2, 40)
    assert scaled["spec"]["triggers"] == manifests.scaled_object("checkout")["spec"]["triggers"]
    assert receipt(scaled) == KEY
    assert pre_state(scaled) == {
        "action": "adjust_hpa",
        "key": KEY,
        "scaledObject": "checkout-scaler",
        "minReplicaCount": 1,
        "maxReplicaCount": 20,
    }
    after = stored(fake_api)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]
    record = rig.writer.records[-1]
    assert record.pre_state["minReplicaCount"] == 1
    assert record.resource_version_after == scaled["metadata"]["resourceVersion"]


def test_keda_is_refused_when_the_policy_does_not_name_it(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (ARGO,))  # another adapter is not this one

    refused = rig.run(KEDA_ADJUST)

    assert refused.status is ActionStatus.FAILED
    assert "does not name keda in spec.scaling.adapters" in refused.detail
    assert "write refused, not retried" in refused.detail
    assert writes(fake_api) == []  # no PATCH, not even a dry run
    assert bounds(stored(fake_api, "scaledobjects", "checkout-scaler")) == (1, 20)


def test_the_writer_reads_the_allowed_adapters_at_every_decision(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_keda(fake_api)
    allowed: list[ScalingAdapter] = []  # the active policy's list, hot-reloaded
    rig = rig_with(fake_api, make_cache, lambda: tuple(allowed))

    before = rig.run(KEDA_ADJUST)
    allowed.append(KEDA)
    after = rig.run(KEDA_ADJUST)

    assert before.status is ActionStatus.FAILED and "does not name keda" in before.detail
    assert after.status is ActionStatus.APPLIED, after.detail
    assert len(real(fake_api)) == 1


def test_a_plain_scale_or_hpa_edit_of_a_keda_workload_stays_refused(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_keda(fake_api)
    fake_api.put("horizontalpodautoscalers", manifests.hpa(name="keda-hpa-checkout-scaler"))
    rig = rig_with(fake_api, make_cache, (KEDA,))

    scale = rig.run(ScaleAction(target=CHECKOUT, from_replicas=4, to_replicas=6))
    assert scale.status is ActionStatus.FAILED
    assert "KEDA ScaledObject checkout-scaler scales shop/checkout" in scale.detail
    assert "adjust_hpa with adapter keda" in scale.detail
    edit = rig.run(KEDA_ADJUST.model_copy(update={"hpa_name": "keda-hpa-checkout-scaler",
                                                  "from_min": 2, "from_max": 10,
                                                  "adapter": None}))  # fmt: skip
    assert edit.status is ActionStatus.FAILED
    assert "belongs to KEDA" in edit.detail
    assert writes(fake_api) == []


def test_keda_naming_another_scaled_object_is_refused(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,))

    wrong = rig.run(KEDA_ADJUST.model_copy(update={"hpa_name": "other-scaler"}))

    assert wrong.status is ActionStatus.FAILED
    assert "KEDA ScaledObject checkout-scaler scales shop/checkout, not other-scaler" in (
        wrong.detail
    )
    assert writes(fake_api) == []


def test_keda_is_idempotent_on_a_rerun(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,))

    assert rig.run(KEDA_ADJUST).status is ActionStatus.APPLIED
    again = rig.run(KEDA_ADJUST)  # the receipt on the ScaledObject names this step

    assert again.status is ActionStatus.ALREADY_DONE, again.detail
    assert len(real(fake_api)) == 1
    writer = rig.writer
    assert isinstance(writer, KubeWriter)
    version = stored(fake_api)["metadata"]["resourceVersion"]
    other_key = "another-step-key"
    writer.apply(KEDA_ADJUST, resource_version=version, idempotency_key=other_key, now=NOW)
    assert len(real(fake_api)) == 1  # the bounds are there: "not needed", nothing sent


def test_keda_concurrent_change_is_a_409_and_a_temporary_error(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,))
    fake_api.inject(
        Fault.concurrent_write(
            "scaledobjects", "shop", "checkout-scaler", methods={"PATCH"}, dry_run=False
        )
    )
    writer = rig.writer
    assert isinstance(writer, KubeWriter)

    with pytest.raises(TemporaryError, match="HTTP 409"):
        writer.apply(
            KEDA_ADJUST,
            resource_version=stored(fake_api)["metadata"]["resourceVersion"],
            idempotency_key=KEY,
            now=NOW,
        )

    assert [(short(r), r.status) for r in writes(fake_api)] == [
        ("PATCH scaledobjects/checkout-scaler dry-run", 200),
        ("PATCH scaledobjects/checkout-scaler", 409),  # never retried blindly
    ]
    assert bounds(stored(fake_api, "scaledobjects", "checkout-scaler")) == (1, 20)


def test_keda_stale_bounds_fail_before_any_write(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,))

    stale = rig.run(KEDA_ADJUST.model_copy(update={"from_min": 3, "from_max": 30}))

    assert stale.status is ActionStatus.FAILED
    assert "bounds are 1-20, the plan expected 3-30: re-plan" in stale.detail
    assert writes(fake_api) == []


def test_a_lost_answer_to_a_keda_write_that_landed_counts_once(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,))
    fake_api.inject(Fault.lost_response(methods={"PATCH"}, dry_run=False, times=1))

    result = rig.run(KEDA_ADJUST)

    assert result.status is ActionStatus.APPLIED, result.detail
    assert [r.status for r in real(fake_api)] == [0, 409]  # landed unanswered, retry lost
    scaled = stored(fake_api, "scaledobjects", "checkout-scaler")
    assert bounds(scaled) == (2, 40) and receipt(scaled) == KEY
    assert "earlier attempt had landed" in rig.writer.records[-1].notes[0]


def test_keda_revert_restores_the_pre_state(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,))
    assert rig.run(KEDA_ADJUST).status is ActionStatus.APPLIED
    recorded = pre_state(stored(fake_api, "scaledobjects", "checkout-scaler"))
    undo = inverse(KEDA_ADJUST)  # what verification runs when the change made things worse
    assert isinstance(undo, AdjustHpaAction) and undo.adapter is KEDA

    reverted = rig.run(undo, key=REVERT_KEY)

    assert reverted.status is ActionStatus.APPLIED, reverted.detail
    scaled = stored(fake_api, "scaledobjects", "checkout-scaler")
    assert bounds(scaled) == (recorded["minReplicaCount"], recorded["maxReplicaCount"]) == (1, 20)
    assert receipt(scaled) == REVERT_KEY
    assert {r.path.rsplit("/", 2)[-2] for r in writes(fake_api)} == {"scaledobjects"}


def test_keda_shadow_writer_sends_nothing(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed_keda(fake_api)
    rig = rig_with(fake_api, make_cache, (KEDA,), shadow=True)

    result = rig.run(KEDA_ADJUST)

    assert result.status is ActionStatus.DRY_RUN, result.detail
    assert writes(fake_api) == []
    (record,) = rig.writer.records
    assert [w.path for w in record.writes] == ["scaledobjects/checkout-scaler"]
    assert record.applied is False


# ----- Argo Rollouts -------------------------------------------------------------------------


def test_argo_rollout_replicas_change_through_the_rollout(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_argo(fake_api)
    rig = rig_with(fake_api, make_cache, (ARGO,))
    before = stored(fake_api)

    result = rig.run(ARGO_SCALE)

    assert result.status is ActionStatus.APPLIED, result.detail
    sent = writes(fake_api)
    assert [short(r) for r in sent] == [
        "PATCH rollouts/checkout dry-run",  # dry run first
        "PATCH rollouts/checkout",
    ]
    assert all(r.content_type == MERGE_PATCH and r.status == 200 for r in sent)
    assert sent[1].body["spec"] == {"replicas": 6}
    live = stored(fake_api, "rollouts", "checkout")
    assert live["spec"]["replicas"] == 6
    assert live["spec"]["workloadRef"]["name"] == "checkout"  # the rest of the Rollout stays
    assert pre_state(live) == {"action": "scale", "key": KEY, "rollout": "checkout", "replicas": 4}
    after = stored(fake_api)
    assert after["spec"] == before["spec"] and after["spec"]["replicas"] == 0  # Argo's to scale
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_argo_is_refused_when_the_policy_does_not_name_it(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_argo(fake_api)
    rig = rig_with(fake_api, make_cache, ())

    refused = rig.run(ARGO_SCALE)
    plain = rig.run(ScaleAction(target=CHECKOUT, from_replicas=0, to_replicas=2))

    assert refused.status is ActionStatus.FAILED
    assert "does not name argo-rollouts in spec.scaling.adapters" in refused.detail
    assert plain.status is ActionStatus.FAILED
    assert "Argo Rollouts manages shop/checkout (Rollout checkout)" in plain.detail
    assert "adapter argo-rollouts" in plain.detail
    assert writes(fake_api) == []


def test_argo_allowed_still_refuses_a_restart_of_the_deployment(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_argo(fake_api)
    rig = rig_with(fake_api, make_cache, (ARGO,))

    restart = rig.run(RestartAction(target=CHECKOUT))

    assert restart.status is ActionStatus.FAILED
    assert "Argo Rollouts manages shop/checkout" in restart.detail
    assert writes(fake_api) == []


def test_argo_scale_is_refused_when_an_hpa_targets_the_rollout_which_adjusts_it_instead(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_argo(fake_api, hpa=True)
    rig = rig_with(fake_api, make_cache, (ARGO,))

    refused = rig.run(ARGO_SCALE)
    assert refused.status is ActionStatus.FAILED
    assert "HorizontalPodAutoscaler checkout-rollout owns spec.replicas of Rollout" in (
        refused.detail
    )
    assert writes(fake_api) == []

    applied = rig.run(ARGO_ADJUST)

    assert applied.status is ActionStatus.APPLIED, applied.detail
    assert [short(r) for r in writes(fake_api)] == [
        "PATCH horizontalpodautoscalers/checkout-rollout dry-run",
        "PATCH horizontalpodautoscalers/checkout-rollout",
    ]
    hpa = stored(fake_api, "horizontalpodautoscalers", "checkout-rollout")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (4, 12)
    assert pre_state(hpa)["minReplicas"] == 2 and receipt(hpa) == KEY
    assert stored(fake_api, "rollouts", "checkout")["spec"]["replicas"] == 4


def test_argo_concurrent_change_is_a_409_and_a_temporary_error(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_argo(fake_api)
    rig = rig_with(fake_api, make_cache, (ARGO,))
    fake_api.inject(
        Fault.concurrent_write("rollouts", "shop", "checkout", methods={"PATCH"}, dry_run=False)
    )

    result = rig.run(ARGO_SCALE)

    assert result.status is ActionStatus.FAILED
    assert "write failed" in result.detail and "HTTP 409" in result.detail
    assert [r.status for r in real(fake_api)] == [409]
    assert stored(fake_api, "rollouts", "checkout")["spec"]["replicas"] == 4


def test_argo_is_idempotent_and_its_revert_restores_the_pre_state(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed_argo(fake_api)
    rig = rig_with(fake_api, make_cache, (ARGO,))
    assert rig.run(ARGO_SCALE).status is ActionStatus.APPLIED
    assert rig.run(ARGO_SCALE).status is ActionStatus.ALREADY_DONE
    assert len(real(fake_api)) == 1
    recorded = pre_state(stored(fake_api, "rollouts", "checkout"))

    undo = inverse(ARGO_SCALE)
    assert isinstance(undo, ScaleAction) and undo.adapter is ARGO
    reverted = rig.run(undo, key=REVERT_KEY)

    assert reverted.status is ActionStatus.APPLIED, reverted.detail
    live = stored(fake_api, "rollouts", "checkout")
    assert live["spec"]["replicas"] == recorded["replicas"] == 4
    assert receipt(live) == REVERT_KEY
    assert stored(fake_api)["spec"]["replicas"] == 0  # the Deployment never moved


def test_argo_stale_replicas_fail_before_any_write(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed_argo(fake_api)
    rig = rig_with(fake_api, make_cache, (ARGO,))

    stale = rig.run(ARGO_SCALE.model_copy(update={"from_replicas": 3}))

    assert stale.status is ActionStatus.FAILED
    assert "Rollout checkout of shop/checkout has 4 replicas, the plan expected 3" in (stale.detail)
    assert writes(fake_api) == []


def test_an_adapter_that_does_not_match_the_owner_is_refused(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)  # nobody but us scales checkout
    fake_api.served = set(CORE_PLURALS) | {"scaledobjects", "rollouts"}
    rig = rig_with(fake_api, make_cache, (KEDA, ARGO))

    keda = rig.run(KEDA_ADJUST)
    argo = rig.run(ARGO_SCALE)

    assert "no KEDA ScaledObject scales shop/checkout" in keda.detail
    assert "no Argo Rollout with a workloadRef manages shop/checkout" in argo.detail
    assert writes(fake_api) == []
