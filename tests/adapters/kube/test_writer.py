"""KubeWriter and ShadowWriter: the real client over HTTP against the loopback fake API.

The fake's request log is the ground truth of what was written (I1, I5): every test
asserts on it, not on what the writer says it did.
"""

from __future__ import annotations

import pytest
import structlog

from controller.actuators.reconcile import SHADOW_NOTE, Actuator
from controller.errors import PermanentError, TemporaryError
from controller.kube.errors import PreconditionFailed, WriteRefused
from controller.kube.observer import KubeObserver, LiveReads
from controller.kube.writer import KubeWriter
from controller.kube.writes import (
    FIELD_MANAGER,
    MERGE_PATCH,
    RESTART_TOKEN_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    STRATEGIC_MERGE_PATCH,
)
from controller.models.actions import (
    AdjustHpaAction,
    PauseRolloutAction,
    RestartAction,
    RollbackAction,
    ScaleAction,
)
from controller.models.decisions import ActionStatus
from controller.sim.fakes import StaticKillSwitch
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi, Fault
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import CacheFactory
from tests.adapters.kube.writing import (
    CHECKOUT,
    KEY,
    NOW,
    build_rig,
    notes_of,
    plain_deployment,
    pre_state,
    receipt,
    seed,
    short,
    stored,
    writes,
)

SCALE = ScaleAction(target=CHECKOUT, from_replicas=4, to_replicas=6)
ADJUST = AdjustHpaAction(
    target=CHECKOUT, hpa_name="checkout", from_min=2, from_max=10, to_min=4, to_max=12
)
ROLLBACK = RollbackAction(
    target=CHECKOUT,
    from_revision=3,
    to_revision=2,
    to_image="registry.example.com/shop/checkout:1.2.0",
)


# ----- scale ------------------------------------------------------------------------------


def test_scale_goes_through_the_scale_subresource_after_a_dry_run(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    version = stored(fake_api)["metadata"]["resourceVersion"]

    result = rig.run(SCALE)

    assert result.status is ActionStatus.APPLIED, result.detail
    sent = writes(fake_api)
    assert [short(r) for r in sent] == [
        "PATCH deployments/checkout/scale dry-run",
        "PATCH deployments/checkout dry-run",
        "PATCH deployments/checkout/scale",
        "PATCH deployments/checkout",
    ]
    assert all(r.params.get("fieldManager") == FIELD_MANAGER for r in sent)
    assert all(r.params.get("dryRun") == "All" for r in sent[:2])
    assert all(r.content_type == MERGE_PATCH and r.status == 200 for r in sent)
    scale = sent[2].body
    assert scale == {"metadata": {"resourceVersion": version}, "spec": {"replicas": 6}}
    assert set(sent[3].body) == {"metadata"}  # the receipt changes metadata only
    deployment = stored(fake_api)
    assert deployment["spec"]["replicas"] == 6
    assert receipt(deployment) == KEY
    assert pre_state(deployment) == {"action": "scale", "key": KEY, "replicas": 4}
    owners = {
        (e["manager"], e.get("subresource")): e["fieldsV1"]
        for e in deployment["metadata"]["managedFields"]
    }
    assert owners[(FIELD_MANAGER, "scale")] == {"f:spec": {"f:replicas": {}}}
    record = rig.writer.records[-1]
    assert (record.applied, record.pre_state) == (True, {"replicas": 4})
    assert record.resource_version_after == deployment["metadata"]["resourceVersion"]


def test_scale_is_idempotent_on_a_rerun(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    assert rig.run(SCALE).status is ActionStatus.APPLIED
    again = rig.run(SCALE)  # the actuator's live GET sees 6 replicas
    assert again.status is ActionStatus.ALREADY_DONE
    assert len([r for r in writes(fake_api) if not r.dry_run]) == 2  # scale + receipt, once


# ----- owners other than us (R16) -----------------------------------------------------------


def test_hpa_owned_workload_adjusts_the_hpa_and_leaves_the_deployment_alone(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api, hpa=True)
    rig = build_rig(fake_api, make_cache)
    before = stored(fake_api)

    refused = rig.run(SCALE)
    assert refused.status is ActionStatus.FAILED
    assert "HPA checkout owns spec.replicas" in refused.detail
    assert "adjust_hpa" in refused.detail
    assert writes(fake_api) == []  # not even a dry run

    applied = rig.run(ADJUST)
    assert applied.status is ActionStatus.APPLIED, applied.detail
    assert {r.path.rsplit("/", 2)[-2] for r in writes(fake_api)} == {"horizontalpodautoscalers"}
    hpa = stored(fake_api, "horizontalpodautoscalers")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (4, 12)
    assert receipt(hpa) == KEY
    assert pre_state(hpa)["minReplicas"] == 2 and pre_state(hpa)["maxReplicas"] == 10
    after = stored(fake_api)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]


@pytest.mark.parametrize(
    ("labels", "owner"),
    [
        ({"argocd.argoproj.io/instance": "shop-checkout"}, "Argo CD"),
        ({"kustomize.toolkit.fluxcd.io/name": "shop"}, "Flux"),
        ({"helm.toolkit.fluxcd.io/name": "checkout"}, "Flux"),
    ],
    ids=["argo-cd", "flux-kustomize", "flux-helm"],
)
def test_gitops_owned_workload_is_refused(
    fake_api: FakeKubeApi, make_cache: CacheFactory, labels: dict[str, str], owner: str
):
    deployment = plain_deployment()
    deployment["metadata"]["labels"].update(labels)
    seed(fake_api, deployment)
    rig = build_rig(fake_api, make_cache)

    for action in (SCALE, RestartAction(target=CHECKOUT), ROLLBACK):
        result = rig.run(action)
        assert result.status is ActionStatus.FAILED
        assert owner in result.detail and "next sync would undo" in result.detail
    assert writes(fake_api) == []


def test_argo_cd_label_tracking_counts_only_next_to_an_argo_annotation(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    deployment = plain_deployment()
    deployment["metadata"]["labels"]["app.kubernetes.io/instance"] = "checkout"  # Helm's too
    seed(fake_api, deployment)
    rig = build_rig(fake_api, make_cache)
    assert rig.run(SCALE).status is ActionStatus.APPLIED

    tracked = stored(fake_api)
    tracked["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = "1"
    fake_api.put("deployments", tracked)
    writer = rig.writer
    assert isinstance(writer, KubeWriter)
    with pytest.raises(WriteRefused, match="Argo CD"):
        writer.apply(
            ScaleAction(target=CHECKOUT, from_replicas=6, to_replicas=8),
            resource_version=stored(fake_api)["metadata"]["resourceVersion"],
            idempotency_key="k2",
            now=NOW,
        )


def test_keda_and_argo_rollouts_owned_scaling_is_refused(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    fake_api.served = set(CORE_PLURALS) | {"scaledobjects", "rollouts"}
    seed(fake_api)
    fake_api.put("scaledobjects", manifests.scaled_object(target="checkout"))
    rig = build_rig(fake_api, make_cache)
    keda = rig.run(SCALE)
    assert keda.status is ActionStatus.FAILED
    assert "KEDA ScaledObject checkout-scaler" in keda.detail

    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}
        },
    }
    fake_api.put("rollouts", rollout)
    argo = rig.run(RestartAction(target=CHECKOUT))
    assert argo.status is ActionStatus.FAILED
    assert "Argo Rollouts manages shop/checkout (Rollout checkout)" in argo.detail
    assert writes(fake_api) == []


# ----- rollback ---------------------------------------------------------------------------


def test_rollback_writes_the_previous_revisions_template(
    make_cache: CacheFactory, fake_api: FakeKubeApi
):
    seed(fake_api)
    fake_api.deployment_controller = True
    rig = build_rig(fake_api, make_cache)

    result = rig.run(ROLLBACK)

    assert result.status is ActionStatus.APPLIED, result.detail
    assert [short(r) for r in writes(fake_api)] == [
        "PATCH deployments/checkout dry-run",
        "PATCH deployments/checkout",
    ]
    body = writes(fake_api)[1].body
    assert body["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.2.0")
    deployment = stored(fake_api)
    target = stored(fake_api, "replicasets", "checkout-6c9d8e7f5")
    expected = target["spec"]["template"]
    expected["metadata"]["labels"].pop("pod-template-hash")
    assert deployment["spec"]["template"] == expected
    assert "pod-template-hash" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert notes_of(deployment)["kubernetes.io/change-cause"] == "argocd sync: bump to 1.2.0"
    assert pre_state(deployment)["revision"] == 3
    # The deployment controller renumbered revision 2 to 4, as on a cluster.
    assert notes_of(deployment)["deployment.kubernetes.io/revision"] == "4"
    assert notes_of(target)["deployment.kubernetes.io/revision-history"] == "2"

    assert rig.caught_up(lambda: _revision_seen(rig, 4))
    again = rig.run(ROLLBACK)  # a re-run after a crash: the receipt says it landed
    assert again.status is ActionStatus.ALREADY_DONE
    assert len([r for r in writes(fake_api) if not r.dry_run]) == 1


def _revision_seen(rig, revision: int) -> bool:
    live = rig.actuator._reader.get_workload(CHECKOUT)
    return live is not None and live.inventory.current_revision == revision


def test_rollback_refuses_when_the_revision_moved(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    fake_api.put(
        "replicasets",
        manifests.replicaset("checkout-8a7b6c5d4", 4, "1.4.0", "2026-03-10T13:00:00Z"),
    )
    moved = stored(fake_api)
    moved["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    moved["spec"]["template"]["spec"] = manifests.pod_spec("1.4.0")
    fake_api.put("deployments", moved)
    rig = build_rig(fake_api, make_cache)
    writer = rig.writer
    assert isinstance(writer, KubeWriter)

    with pytest.raises(PreconditionFailed, match="at revision 4, not the revision 3"):
        writer.apply(
            ROLLBACK,
            resource_version=stored(fake_api)["metadata"]["resourceVersion"],
            idempotency_key=KEY,
            now=NOW,
        )
    through_actuator = rig.run(ROLLBACK)
    assert through_actuator.status is ActionStatus.FAILED
    assert "re-plan" in through_actuator.detail
    assert writes(fake_api) == []


def test_an_invalid_old_template_is_a_clear_permanent_failure(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    broken = manifests.replicaset("checkout-6c9d8e7f5", 2, "1.2.0", "2026-03-05T10:00:00Z")
    broken["spec"]["template"]["metadata"]["labels"] = {"app": "cart"}  # no longer selected
    fake_api.put("replicasets", broken)
    rig = build_rig(fake_api, make_cache)

    result = rig.run(ROLLBACK)

    assert result.status is ActionStatus.FAILED
    assert "not retried" in result.detail and "HTTP 422" in result.detail
    assert "`selector` does not match template `labels`" in result.detail
    assert [short(r) for r in writes(fake_api)] == ["PATCH deployments/checkout dry-run"]
    assert stored(fake_api)["spec"]["template"]["metadata"]["labels"] == {"app": "checkout"}


# ----- restart and pause ------------------------------------------------------------------


def test_restart_stamps_the_pod_template_once(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    restart = RestartAction(target=CHECKOUT)

    assert rig.run(restart).status is ActionStatus.APPLIED
    sent = writes(fake_api)
    assert all(r.content_type == STRATEGIC_MERGE_PATCH for r in sent)
    template_notes = stored(fake_api)["spec"]["template"]["metadata"]["annotations"]
    assert template_notes[RESTARTED_AT_ANNOTATION] == "2026-03-10T13:00:00Z"
    assert template_notes[RESTART_TOKEN_ANNOTATION] == KEY
    assert stored(fake_api)["metadata"]["generation"] == 8  # a spec change

    assert rig.caught_up(lambda: _restart_seen(rig))
    assert rig.run(restart).status is ActionStatus.ALREADY_DONE
    assert len(writes(fake_api)) == 2


def _restart_seen(rig) -> bool:
    live = rig.actuator._reader.get_workload(CHECKOUT)
    return live is not None and live.restart_token == KEY


def test_pause_then_resume(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)

    assert rig.run(PauseRolloutAction(target=CHECKOUT, revision=3)).status is ActionStatus.APPLIED
    assert stored(fake_api)["spec"]["paused"] is True
    assert pre_state(stored(fake_api))["paused"] is False
    assert rig.run(PauseRolloutAction(target=CHECKOUT)).status is ActionStatus.ALREADY_DONE

    writer = rig.writer
    assert isinstance(writer, KubeWriter)
    version = stored(fake_api)["metadata"]["resourceVersion"]
    live = writer.resume_rollout(CHECKOUT, resource_version=version, idempotency_key="r1", now=NOW)
    assert live.paused is False and stored(fake_api)["spec"]["paused"] is False
    assert rig.writer.records[-1].action == "resume_rollout"


def test_pause_naming_an_older_revision_is_refused(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    result = rig.run(PauseRolloutAction(target=CHECKOUT, revision=2))
    assert result.status is ActionStatus.FAILED and "revision 2 the plan named" in result.detail
    assert writes(fake_api) == []


# ----- conflicts, faults and retries ------------------------------------------------------


def test_a_concurrent_update_is_a_409_and_a_temporary_error(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    fake_api.inject(
        Fault.concurrent_write("deployments", "shop", "checkout", methods={"PATCH"}, dry_run=False)
    )
    writer = rig.writer
    assert isinstance(writer, KubeWriter)

    with pytest.raises(TemporaryError, match="HTTP 409") as caught:
        writer.apply(
            SCALE,
            resource_version=stored(fake_api)["metadata"]["resourceVersion"],
            idempotency_key=KEY,
            now=NOW,
        )
    assert "the object has been modified" in str(caught.value)
    real = [r for r in writes(fake_api) if not r.dry_run]
    assert [r.status for r in real] == [409]  # a conflict is never retried blindly
    assert stored(fake_api)["spec"]["replicas"] == 4


def test_a_stale_version_from_the_actuator_fails_before_any_write(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    writer = rig.writer
    assert isinstance(writer, KubeWriter)
    with pytest.raises(PreconditionFailed, match="not 1 as read"):
        writer.apply(SCALE, resource_version="1", idempotency_key=KEY, now=NOW)
    assert writes(fake_api) == []


def test_429_with_retry_after_is_waited_out_then_applied(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    fake_api.inject(Fault.too_many_requests(retry_after=2, methods={"PATCH"}, times=2))

    result = rig.run(SCALE)

    assert result.status is ActionStatus.APPLIED, result.detail
    assert [r.status for r in writes(fake_api)][:3] == [429, 429, 200]
    assert len(rig.slept) == 2 and all(wait >= 2.0 for wait in rig.slept)
    assert stored(fake_api)["spec"]["replicas"] == 6


def test_retries_are_bounded_and_a_long_retry_after_fails_at_once(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    fake_api.inject(Fault.too_many_requests(retry_after=1, methods={"PATCH"}))

    failed = rig.run(SCALE)

    assert failed.status is ActionStatus.FAILED and "HTTP 429" in failed.detail
    assert len(writes(fake_api)) == 3  # RETRY.attempts, all of them the dry run
    assert stored(fake_api)["spec"]["replicas"] == 4
    fake_api.faults.clear()
    fake_api.log.clear()
    fake_api.inject(Fault.too_many_requests(retry_after=60, methods={"PATCH"}))
    assert rig.run(SCALE).status is ActionStatus.FAILED
    assert len(writes(fake_api)) == 1  # 60 s is past max_retry_after: no retry at all


def test_5xx_and_resets_on_the_writers_reads_are_retried(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    writer = rig.writer
    assert isinstance(writer, KubeWriter)
    version = stored(fake_api)["metadata"]["resourceVersion"]
    fake_api.inject(Fault.server_error(503, methods={"GET"}, path_contains="/checkout", times=1))
    hpas = "/horizontalpodautoscalers"
    fake_api.inject(Fault.reset(methods={"GET"}, path_contains=hpas, times=1))

    writer.apply(SCALE, resource_version=version, idempotency_key=KEY, now=NOW)

    assert len(rig.slept) == 2
    gets = [r.status for r in fake_api.requests if r.path.endswith("/deployments/checkout")]
    assert gets[:2] == [503, 200]
    assert stored(fake_api)["spec"]["replicas"] == 6


def test_a_lost_answer_to_a_write_that_landed_counts_once(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    fake_api.inject(
        Fault.lost_response(methods={"PATCH"}, path_contains="/scale", dry_run=False, times=1)
    )

    result = rig.run(SCALE)

    assert result.status is ActionStatus.APPLIED, result.detail
    scales = [r for r in writes(fake_api) if r.path.endswith("/scale") and not r.dry_run]
    assert [r.status for r in scales] == [0, 409]  # landed unanswered, then the retry lost
    assert stored(fake_api)["spec"]["replicas"] == 6 and receipt(stored(fake_api)) == KEY
    assert "earlier attempt had landed" in rig.writer.records[-1].notes[0]


def test_every_request_takes_a_token_of_the_qps_limiter(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api, hpa=True)
    rig = build_rig(fake_api, make_cache)
    writer = rig.writer
    assert isinstance(writer, KubeWriter)
    before = rig.client.limiter.taken
    seen = len(fake_api.requests)
    writer.apply(ADJUST, resource_version=stored(fake_api)["metadata"]["resourceVersion"],
                 idempotency_key=KEY, now=NOW)  # fmt: skip
    ours = [r for r in fake_api.requests[seen:] if not r.is_watch]
    assert rig.client.limiter.taken - before >= len(ours) > 0


def test_lists_are_paginated(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    rig = build_rig(fake_api, make_cache)
    writer = rig.writer
    assert isinstance(writer, KubeWriter)
    writer.calls._page_size = 1
    found = writer.calls.list_replicasets("shop", "app=checkout")
    assert len(found) == 3
    pages = [r for r in fake_api.requests if r.path.endswith("/replicasets") and not r.is_watch]
    assert [r.params.get("limit") for r in pages] == ["1", "1", "1"]
    assert "continue" not in pages[0].params and all("continue" in p.params for p in pages[1:])


# ----- shadow -----------------------------------------------------------------------------


def test_shadow_writer_records_the_would_be_writes_and_sends_none(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api, hpa=True)
    rig = build_rig(fake_api, make_cache, shadow=True)

    with structlog.testing.capture_logs() as logs:
        result = rig.run(ADJUST)
        refused = rig.run(SCALE)

    assert result.status is ActionStatus.DRY_RUN and result.detail == SHADOW_NOTE
    assert refused.status is ActionStatus.FAILED and "HPA checkout owns" in refused.detail
    assert [r for r in fake_api.requests if r.method != "GET"] == []
    record = rig.writer.records[-1]
    assert record.applied is False
    assert record.writes[0].body["spec"] == {"minReplicas": 4, "maxReplicas": 12}
    events = [e for e in logs if e["event"] == "kube write recorded, not sent"]
    assert len(events) == 1 and events[0]["workload"] == "shop/checkout"
    assert events[0]["writes"][0]["path"] == "horizontalpodautoscalers/checkout"
    assert stored(fake_api, "horizontalpodautoscalers")["spec"]["minReplicas"] == 2


def test_writer_errors_have_the_two_kinds(fake_api: FakeKubeApi, make_cache: CacheFactory):
    assert issubclass(PreconditionFailed, TemporaryError)
    assert issubclass(WriteRefused, PermanentError)


def test_no_write_while_the_cache_is_unsynced(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    cache, client = make_cache()  # never started: blind
    writer = KubeWriter(client)
    actuator = Actuator(
        reader=LiveReads(KubeObserver(cache, client)),
        writer=writer,
        kill_switch=StaticKillSwitch(),
        receipts=writer,
    )
    result = actuator.execute(SCALE, plan_hash="p", key=KEY, dry_run=False, now=NOW)
    assert result.status is ActionStatus.FAILED
    assert "cannot read the live object" in result.detail and "not synced" in result.detail
    assert writes(fake_api) == []
